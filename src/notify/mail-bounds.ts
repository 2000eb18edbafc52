// Bounds on everything an outgoing mail carries from input: subjects, names, Message-IDs and
// References, recipients, the customer text and attachment list of the new-case notification.
// Applied when the outbox row is written (so the row itself stays small) and again when the
// dispatcher composes the mail, which then checks RFC 5322's 998-character line limit. Pure.
import { isOwnAddress } from '../threading/addresses.js';
import type { MailKind, MailKindData, MessageExcerpt, NewCaseNotificationData, SlaStateData } from './mail-kinds.js';

export const MAX_SUBJECT_CHARS = 200;
/** Display names, organisation names, attachment file names, reasons. */
export const MAX_NAME_CHARS = 200;
/** RFC 5321's path limit; a longer "address" is no address. */
export const MAX_ADDRESS_CHARS = 254;
/** Our own ids are ~45 characters; an id this long is junk that would overflow a header line. */
export const MAX_MESSAGE_ID_CHARS = 250;
export const MAX_REFERENCES = 20;
export const MAX_NOTIFICATION_TEXT_CHARS = 4000;
export const MAX_LISTED_ATTACHMENTS = 50;
/** RFC 5322 §2.1.1: lines MUST be no more than 998 characters, excluding CRLF. */
export const MAX_LINE_CHARS = 998;

/** Removes CR, LF and other control characters that could end a header early or forge another. */
export function stripHeaderBreaks(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\r\n]+[\t ]*/g, ' ').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').trim();
}

/** The first `max` UTF-16 units of `value` without splitting a surrogate pair. */
function headOf(value: string, max: number): string {
  const code = value.charCodeAt(max - 1);
  return value.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** `value` cut to `max` characters plus "…" when longer. */
export function clipChars(value: string, max: number): string {
  return value.length <= max ? value : `${headOf(value, max).trimEnd()}…`;
}

/** A header-safe subject of at most MAX_SUBJECT_CHARS (+ "…"). Cuts before cleaning: a 200 KB subject is not scanned whole. */
export function boundSubject(subject: string): string {
  return clipChars(stripHeaderBreaks(headOf(subject, MAX_SUBJECT_CHARS * 4)), MAX_SUBJECT_CHARS);
}

/** A single-line name (display name, organisation, file name) of sane length. */
export function boundName(name: string): string {
  return clipChars(stripHeaderBreaks(headOf(name, MAX_NAME_CHARS * 4)), MAX_NAME_CHARS);
}

const MSG_ID = /<[^<>\s]+>/g;

/**
 * The well-formed `<id>` tokens in `values`, each at most MAX_MESSAGE_ID_CHARS long, without
 * repeats: customer-supplied ids never reach our headers as free text or as a 2 KB line.
 */
export function messageIds(values: readonly (string | null | undefined)[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!v) continue;
    const trimmed = stripHeaderBreaks(headOf(v, 64 * 1024));
    const found = trimmed.match(MSG_ID) ?? (/^[^<>\s]+@[^<>\s]+$/.test(trimmed) ? [`<${trimmed}>`] : []);
    for (const id of found) if (id.length <= MAX_MESSAGE_ID_CHARS && !out.includes(id)) out.push(id);
  }
  return out;
}

/** The first usable Message-ID in `value`, or null. */
export function boundMessageId(value: string | null | undefined): string | null {
  return messageIds([value])[0] ?? null;
}

/**
 * At most MAX_REFERENCES usable ids. When there are more, the first (the thread's root) and the
 * latest ones are kept, as RFC 5322 §3.6.4 suggests for trimming References.
 */
export function boundReferences(ids: readonly (string | null | undefined)[]): string[] {
  const usable = messageIds(ids);
  if (usable.length <= MAX_REFERENCES) return usable;
  return [usable[0]!, ...usable.slice(usable.length - (MAX_REFERENCES - 1))];
}

// eslint-disable-next-line no-control-regex
const ADDRESS_SHAPE = /^[^\s\x00-\x1f\x7f<>()[\]\\,;:"]+@[^\s\x00-\x1f\x7f<>()[\]\\,;:"@]+$/;

/** Why a recipient is dropped before sending, or null when it may be written to. */
export function recipientProblem(address: string, own: readonly string[]): string | null {
  if (address.length > MAX_ADDRESS_CHARS) return 'longer than 254 characters';
  if (!ADDRESS_SHAPE.test(address)) return 'not a plain mail address';
  if (isOwnAddress(address, own)) return 'one of our own addresses';
  return null;
}

export interface Recipients {
  to: string[];
  cc: string[];
  /** Addresses left out, each with why (for the row's last_error when nobody is left). */
  dropped: { address: string; reason: string }[];
}

/**
 * The recipients a mail may go to: lower-cased, de-duplicated (Cc loses what To has), never one
 * of our own addresses (support+c1@… included) or something that is not an address. When To is
 * left empty but Cc is not, the first Cc moves up.
 */
export function sendableRecipients(to: readonly string[], cc: readonly string[], own: readonly string[]): Recipients {
  const dropped: Recipients['dropped'] = [];
  const seen = new Set<string>();
  const keep = (list: readonly string[]): string[] => {
    const out: string[] = [];
    for (const raw of list) {
      const address = stripHeaderBreaks(headOf(raw, MAX_ADDRESS_CHARS * 2)).toLowerCase();
      if (!address || seen.has(address)) continue;
      seen.add(address);
      const problem = recipientProblem(address, own);
      if (problem) dropped.push({ address: clipChars(address, 80), reason: problem });
      else out.push(address);
    }
    return out;
  };
  const keptTo = keep(to);
  const keptCc = keep(cc);
  if (keptTo.length === 0 && keptCc.length > 0) keptTo.push(keptCc.shift()!);
  return { to: keptTo, cc: keptCc, dropped };
}

/**
 * The new-case notification's customer text: the first MAX_NOTIFICATION_TEXT_CHARS characters
 * and where the rest is. Engineers read the case for the full text; a 14 MB paste must not
 * travel in a notification (or sit in its outbox row).
 */
export function clipNotificationText(text: string, caseNumber: number): string {
  if (text.length <= MAX_NOTIFICATION_TEXT_CHARS) return text;
  const head = headOf(text, MAX_NOTIFICATION_TEXT_CHARS);
  const more = text.length - head.length;
  return `${head.trimEnd()}\n… (${more.toLocaleString('en-US')} more characters; \`casemail case show ${caseNumber}\`)`;
}

// The bounders tolerate data that lacks a field (a row written by older code): what is missing
// stays missing, and the strict template then names it, instead of a TypeError here.
const text = (v: string, f: (s: string) => string): string => (typeof v === 'string' ? f(v) : v);
const list = <T>(v: readonly T[], f: (items: readonly T[]) => T[]): T[] => (Array.isArray(v) ? f(v) : (v as T[]));

type Attachment = { filename: string; size: number };
function boundAttachments(items: readonly Attachment[]): Attachment[] {
  const named = (a: Attachment): Attachment => ({ ...a, filename: text(a.filename, boundName) });
  if (items.length <= MAX_LISTED_ATTACHMENTS) return items.map(named);
  const rest = items.slice(MAX_LISTED_ATTACHMENTS - 1);
  const restSize = rest.reduce((sum, a) => sum + (Number.isFinite(a.size) ? a.size : 0), 0);
  return [...items.slice(0, MAX_LISTED_ATTACHMENTS - 1).map(named), { filename: `… and ${rest.length} more`, size: restSize }];
}

type Summary = { number: number; tag: string; subject: string };
const boundSummary = (c: Summary): Summary =>
  (c && typeof c === 'object' ? { ...c, tag: text(c.tag, boundName), subject: text(c.subject, boundSubject) } : c);
const boundSiblings = (items: readonly Summary[]): Summary[] => items.slice(0, MAX_LISTED_ATTACHMENTS).map(boundSummary);

/** One bounder per kind: adding a kind without saying how its data is bounded fails to compile. */
const BOUNDERS: { [K in MailKind]: (data: MailKindData[K]) => MailKindData[K] } = {
  acknowledgement: (d) => ({
    ...d, case: boundSummary(d.case), requesterName: text(d.requesterName, boundName), siblings: list(d.siblings, boundSiblings),
  }),
  'not-entitled': (d) => ({ ...d, senderAddress: text(d.senderAddress, boundName) }),
  'new-case-notification': (d): NewCaseNotificationData => ({
    ...d,
    case: boundSummary(d.case),
    requester: d.requester && typeof d.requester === 'object'
      ? { ...d.requester, name: text(d.requester.name, boundName), address: text(d.requester.address, boundName) }
      : d.requester,
    organisation: text(d.organisation, boundName),
    text: text(d.text, (t) => clipNotificationText(t, d.case?.number ?? 0)),
    attachments: list(d.attachments, boundAttachments),
    siblings: list(d.siblings, boundSiblings),
  }),
  'held-message-notice': (d) => ({
    ...d, case: boundSummary(d.case), sender: text(d.sender, boundName), subject: text(d.subject, boundSubject), reason: text(d.reason, boundName),
  }),
  'oversize-notice': (d) => ({ ...d, subject: text(d.subject, boundSubject) }),
  // A relay carries the engineer's whole text: it is the answer, not a notification of one.
  'engineer-relay': (d) => ({ ...d, case: boundSummary(d.case), engineerName: text(d.engineerName, boundName) }),
  'command-error': (d) => ({ ...d, case: boundSummary(d.case), line: text(d.line, boundName), problem: text(d.problem, boundName) }),
  'customer-reply-notification': (d) => ({
    ...d,
    case: boundSummary(d.case),
    from: d.from && typeof d.from === 'object' ? { name: text(d.from.name, boundName), address: text(d.from.address, boundName) } : d.from,
    text: text(d.text, (t) => clipNotificationText(t, d.case?.number ?? 0)),
    attachments: list(d.attachments, boundAttachments),
  }),
  'assignment-notice': (d) => ({ ...d, case: boundSummary(d.case), assignedBy: text(d.assignedBy, boundName), organisation: text(d.organisation, boundName) }),
  'sla-warning': (d) => boundSlaState(d),
  'sla-breach': (d) => ({ ...d, ...boundSlaState(d) }),
  'info-reminder': (d) => ({ ...d, case: boundSummary(d.case), requesterName: text(d.requesterName, boundName) }),
  'confirmation-reminder': (d) => ({ ...d, case: boundSummary(d.case), requesterName: text(d.requesterName, boundName) }),
  'auto-close-notice': (d) => ({ ...d, case: boundSummary(d.case), requesterName: text(d.requesterName, boundName) }),
  'customer-unreachable': (d) => ({
    ...d, case: boundSummary(d.case), address: text(d.address, boundName), reason: text(d.reason, boundName),
    reachable: list(d.reachable, (xs) => xs.slice(0, MAX_LISTED_ATTACHMENTS).map((x) => text(x, boundName))),
  }),
  'escalation-notice': (d) => ({
    ...d,
    case: d.case === null ? null : boundSummary(d.case),
    from: d.from && typeof d.from === 'object' ? { name: text(d.from.name, boundName), address: text(d.from.address, boundName) } : d.from,
    subject: text(d.subject, boundSubject),
    text: text(d.text, (t) => clipNotificationText(t, d.case?.number ?? 0)),
    sla: d.sla && typeof d.sla === 'object' ? {
      ...d.sla, organisation: text(d.sla.organisation, boundName),
      requester: d.sla.requester && typeof d.sla.requester === 'object'
        ? { name: text(d.sla.requester.name, boundName), address: text(d.sla.requester.address, boundName) } : d.sla.requester,
      assignee: d.sla.assignee === null ? null : text(d.sla.assignee, boundName),
    } : d.sla,
    lastCustomer: boundExcerpt(d.lastCustomer),
    lastEngineer: boundExcerpt(d.lastEngineer),
    unmatchedNumbers: list(d.unmatchedNumbers, (xs) => xs.slice(0, MAX_LISTED_ATTACHMENTS)),
  }),
  'escalation-receipt': (d) => ({
    ...d, case: d.case === null ? null : boundSummary(d.case), senderName: text(d.senderName, boundName),
  }),
  'org-digest': (d) => ({
    ...d, adminName: text(d.adminName, boundName), organisation: text(d.organisation, boundName),
    cases: list(d.cases, (xs) => xs.slice(0, MAX_DIGEST_CASES).map((c) => ({
      ...c, case: boundSummary(c.case),
      requester: c.requester && typeof c.requester === 'object'
        ? { name: text(c.requester.name, boundName), address: text(c.requester.address, boundName) } : c.requester,
    }))),
  }),
  'admin-command-result': (d) => ({
    ...d, adminName: text(d.adminName, boundName), organisation: text(d.organisation, boundName),
    contacts: list(d.contacts, (xs) => xs.slice(0, MAX_LISTED_ATTACHMENTS).map((c) => ({ ...c, line: text(c.line, boundName) }))),
    licenses: list(d.licenses, (xs) => xs.slice(0, MAX_LISTED_ATTACHMENTS).map((l) => ({ ...l, product: text(l.product, boundName) }))),
    refusal: d.refusal && typeof d.refusal === 'object'
      ? { ...d.refusal, seen: list(d.refusal.seen, (xs) => xs.slice(0, 10).map((x) => text(x, boundName))) } : d.refusal,
  }),
};

/** Open cases one digest lists; the rest are counted. */
export const MAX_DIGEST_CASES = 100;

export const MAX_EXCERPT_CHARS = 500;
const boundExcerpt = (e: MessageExcerpt | null): MessageExcerpt | null => (e && typeof e === 'object'
  ? { ...e, from: text(e.from, boundName), excerpt: text(e.excerpt, (t) => clipChars(t, MAX_EXCERPT_CHARS)) }
  : e);

function boundSlaState(d: SlaStateData): SlaStateData {
  return {
    ...d,
    case: boundSummary(d.case),
    requester: d.requester && typeof d.requester === 'object'
      ? { name: text(d.requester.name, boundName), address: text(d.requester.address, boundName) }
      : d.requester,
    organisation: text(d.organisation, boundName),
    assignee: d.assignee === null ? null : text(d.assignee, boundName),
  };
}

/** The template data of a mail of `kind`, every input-derived field bounded. */
export function boundMailData<K extends MailKind>(kind: K, data: MailKindData[K]): MailKindData[K] {
  if (!data || typeof data !== 'object') return data;
  return (BOUNDERS[kind] as (d: MailKindData[K]) => MailKindData[K])(data);
}

/** The longest header line of a raw RFC 5322 message (CRLF or LF), in characters; 0 for none. */
export function longestHeaderLine(raw: Buffer): number {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
  let longest = 0;
  for (const line of head.split(/\r?\n/)) longest = Math.max(longest, line.length);
  return longest;
}
