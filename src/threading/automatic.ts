// Automatic-mail detection: auto-replies, bounces, delivery and feedback reports, list mail and
// our own mail coming back. Pure: reads only the ParsedMessage it is given. Order (spec 3):
// loop, machine-readable reports (RFC parts, Amazon SES JSON), list-manager notices,
// human-readable bounces, auto-reply signals, list mail. Helpers: bounce-report.ts (RFC
// 3464/8098/5965 parts), ses-notification.ts, list-notice.ts, bounce-text.ts (MTA wording),
// auto-reply.ts (headers and vacation subjects).
import { header, type ParsedMessage } from './parsed-message.js';
import { readReport, type DsnRecipient } from './bounce-report.js';
import {
  bounceBodyPhrase, bounceWording, hasReturnedMessageInline, hasSmtpTranscript, looksLikeBounceSubject, looksLikeDelaySubject,
  readsAsPersonalLetter, recipientsFromText, reportSection, statusesFromText,
} from './bounce-text.js';
import { readHeaderSignals } from './auto-reply.js';
import { readSesNotification, type SesNotification } from './ses-notification.js';
import { readListNotice } from './list-notice.js';

export type MailKind = 'human' | 'auto-reply' | 'bounce' | 'delivery-report' | 'feedback-report' | 'loop';

export interface BounceInfo {
  statuses: string[];
  recipients: string[];
  permanent: boolean;
}

export interface AutomaticClassification {
  kind: MailKind;
  /** True: must never be answered automatically. */
  automated: boolean;
  mailingList: boolean;
  reasons: string[];
  bounce: BounceInfo | null;
}

export interface AutomaticOptions {
  /** Domains of our own Message-IDs: mail carrying one in Message-ID is our own coming back. */
  ourMessageIdDomains: string[];
  /** Name of the loop header we put on everything we send (e.g. "X-Casemail-Loop"). */
  loopHeader: string;
}

const DAEMON_SENDER = /^(?:mailer[-_]?daemon|mail[-_]?daemon)$/i;
const POSTMASTER_SENDER = /^(?:post[-_]?master|mail-delivery-system|mail\.delivery\.system|mail[-_]delivery[-_]subsystem)$/i;
const DAEMON_NAME = /mail delivery (?:sub)?system|mailer[- ]daemon|mail administrator|postmaster|system administrator/i;
/** A person forwarding or answering a bounce wants help with it: that is human mail. */
const FORWARD_OR_REPLY = /^\s*(?:fwd?|fw|re|aw|wg|tr|sv|vs|rv|enc|i|r)\s*(?:\[\d+\])?\s*:/i;
/** Non-standard read and delivery receipts (Exchange, Notes, Groupwise to the internet). */
const RECEIPT_SUBJECT = /^\s*(?:read|delivered|gelesen|zugestellt|lu|remis|le[ií]do|entregado|letto|consegnato|gelezen|bezorgd|läst|levererat)\s*:/i;
/** "Delivery Status Notification (Success)" / "(Relay)" and similar positive notices. */
const SUCCESS_SUBJECT = /\((?:success|relay|delivered)\)|^\s*(?:delivered|successful(?:ly)? delivered|delivery (?:receipt|confirmation))\s*:/i;
const RECEIPT_BODY = /(?:your message .{0,300}was (?:read|delivered|displayed)|has been delivered to the following recipients|wurde am .{0,60} gelesen|a été lu|was read on|delivery to these recipients or groups is complete)/i;

function localPart(address: string | undefined): string {
  if (!address) return '';
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(0, at) : address;
}

/**
 * The sender's local part, also when the From header holds no domain: "MAILER-DAEMON" alone parses
 * as a name with no address (and may leave `from` null), yet names the bounce's author.
 */
function senderLocal(msg: ParsedMessage): string {
  if (msg.from?.address) return localPart(msg.from.address);
  const name = msg.from?.name.trim() ?? '';
  if (/^[^\s@<>"]{1,64}$/.test(name)) return name;
  const raw = /^\s*(?:[^<]{0,200}<([^\s@<>"]{1,64})>|([^\s@<>"]{1,64}))\s*$/.exec(header(msg, 'from') ?? '');
  return raw ? (raw[1] ?? raw[2]!) : '';
}

/** Machine structure of a report: what a person writing about a delivery problem rarely sends. */
function reportStructure(msg: ParsedMessage, section: string): string | null {
  if (hasSmtpTranscript(section)) return 'smtp transcript';
  if (msg.attachments.some((a) => /^(?:message\/(?:rfc822|global|rfc822-headers)|text\/rfc822-headers)\b/i.test(a.contentType))) return 'returned message attached';
  if (hasReturnedMessageInline(msg.text ?? '')) return 'returned message inline';
  return null;
}

function sesResult(ses: SesNotification): { kind: MailKind; reason: string; bounce: BounceInfo | null } {
  const via = ses.viaSns ? 'amazon ses via sns' : 'amazon ses';
  const detail = ses.detail ? ` (${ses.detail.toLowerCase()})` : '';
  const type = ses.type.toLowerCase();
  const reason = `${via}: ${type}${detail}`;
  if (type === 'bounce' || type === 'deliverydelay') {
    return { kind: 'bounce', reason, bounce: { statuses: ses.statuses, recipients: ses.recipients, permanent: type === 'bounce' && ses.permanent } };
  }
  if (type === 'complaint') return { kind: 'feedback-report', reason, bounce: null };
  // Delivery, and the event-publishing notices about mail we sent (Send, Open, Click, Reject, ...).
  return { kind: 'delivery-report', reason, bounce: null };
}

function messageIdDomain(messageId: string | null): string | null {
  if (!messageId) return null;
  const m = /@([^>\s]+)>?\s*$/.exec(messageId);
  return m ? m[1]!.toLowerCase() : null;
}

function isOurDomain(domain: string, ours: readonly string[]): boolean {
  return ours.some((d) => {
    const o = d.toLowerCase().replace(/^@/, '');
    return o !== '' && (domain === o || domain.endsWith(`.${o}`));
  });
}

/** Permanent only when every failure we know of is a 5.x.x: a mixed or code-less bounce must not
 * mark a recipient address as bouncing. */
function permanentOf(statuses: readonly string[]): boolean {
  return statuses.length > 0 && statuses.every((s) => s.startsWith('5'));
}

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

function bounceFromDsn(failed: DsnRecipient[], msg: ParsedMessage, section: string): BounceInfo {
  const statuses = unique(failed.map((r) => r.status ?? (r.action === 'delayed' ? '4.0.0' : null)).filter((s): s is string => s !== null));
  const recipients = unique(failed.map((r) => r.recipient).filter((r): r is string => r !== null));
  if (statuses.length === 0) statuses.push(...statusesFromText(section));
  if (recipients.length === 0) recipients.push(...failedRecipientsHeader(msg), ...recipientsFromText(section, excluded(msg)));
  return { statuses, recipients: unique(recipients), permanent: permanentOf(statuses) };
}

function failedRecipientsHeader(msg: ParsedMessage): string[] {
  const values = msg.headers['x-failed-recipients'] ?? [];
  return values.flatMap((v) => v.split(/[,\s]+/)).map((a) => a.trim().replace(/^<|>$/g, '').toLowerCase()).filter((a) => a.includes('@'));
}

function excluded(msg: ParsedMessage): Set<string> {
  const out = new Set<string>();
  if (msg.from?.address) out.add(msg.from.address.toLowerCase());
  if (msg.returnPath) out.add(msg.returnPath.toLowerCase());
  return out;
}

function bounceFromText(msg: ParsedMessage, section: string): BounceInfo {
  const statuses = statusesFromText(section);
  const delay = looksLikeDelaySubject(msg.subject);
  if (delay && !statuses.some((s) => s.startsWith('4'))) statuses.push('4.0.0');
  const recipients = unique([...failedRecipientsHeader(msg), ...recipientsFromText(section, excluded(msg))]);
  // A delay notice is never final, whatever codes its transcript quotes.
  return { statuses, recipients, permanent: !delay && permanentOf(statuses) };
}

/** `f`'s value, worked out on the first call only. */
function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

export function classifyAutomatic(msg: ParsedMessage, opts: AutomaticOptions): AutomaticClassification {
  const signals = readHeaderSignals(msg);
  const mailingList = signals.listReasons.length > 0;
  const result = (kind: MailKind, reasons: string[], bounce: BounceInfo | null = null): AutomaticClassification => ({
    kind,
    automated: kind !== 'human' || mailingList || reasons.length > 0,
    mailingList,
    reasons: unique(reasons),
    bounce,
  });

  // 1. Our own mail coming back (spec 3.1).
  const idDomain = messageIdDomain(msg.messageId);
  if (idDomain && isOurDomain(idDomain, opts.ourMessageIdDomains)) return result('loop', [`loop: our message-id domain ${idDomain}`]);
  if (opts.loopHeader && header(msg, opts.loopHeader) !== null) return result('loop', [`loop: ${opts.loopHeader.toLowerCase()} header`]);

  // 2. Machine-readable reports.
  const report = readReport(msg);
  const fromLocal = senderLocal(msg);
  const section = reportSection(msg.text ?? '');
  if (report.kind === 'feedback') return result('feedback-report', [`feedback report${report.detail ? `: ${report.detail}` : ''}`, ...signals.autoReasons]);
  if (report.kind === 'disposition') return result('delivery-report', [`disposition notification${report.detail ? `: ${report.detail}` : ''}`, ...signals.autoReasons]);
  if (report.kind === 'delivery-status') {
    // "deliverable" is what a verification (sendmail -bv style) reports; a 2.x.x with no action is a success too.
    const ok = (r: DsnRecipient): boolean =>
      r.action === 'delivered' || r.action === 'relayed' || r.action === 'expanded' || r.action === 'deliverable' ||
      (r.action === null && r.status !== null && r.status.startsWith('2'));
    const failed = report.recipients.filter((r) => !ok(r) && (r.action === null || r.action === 'failed' || r.action === 'delayed'));
    const succeeded = report.recipients.filter(ok);
    if (succeeded.length > 0 && failed.length === 0) {
      return result('delivery-report', [`delivery status notification: ${unique(succeeded.map((r) => r.action ?? r.status ?? '')).join(', ')}`, ...signals.autoReasons]);
    }
    const actions = unique(failed.map((r) => r.action ?? 'unknown'));
    return result('bounce', [`delivery status notification${actions.length ? `: ${actions.join(', ')}` : ''}`, ...signals.autoReasons], bounceFromDsn(failed, msg, section));
  }

  const forwarded = FORWARD_OR_REPLY.test(msg.subject);
  // Amazon SES notifications: JSON as the whole body (a person quoting one writes around it).
  const ses = forwarded ? null : readSesNotification(msg);
  if (ses) {
    const r = sesResult(ses);
    return result(r.kind, [r.reason, ...signals.autoReasons], r.bounce);
  }

  // The content evidence below (personal letter, MTA wording, report structure) scans the report
  // text with large patterns, yet only matters beside other bounce evidence: each is computed at
  // most once and only when a decision reads it. All are pure, so the order they are asked in
  // does not change any result.
  const personal = once(() => readsAsPersonalLetter(section));
  // 3. Mailing-list software refusing a non-member's post or stopping a loop: our mail did not get through.
  const notice = readListNotice(msg, fromLocal, section);
  if (notice && !(notice.bySenderOnly && personal())) {
    const reasons = [`list manager notice: ${notice.kind}`, notice.software, ...signals.autoReasons, ...signals.listReasons];
    if (notice.kind === 'held') return result('auto-reply', reasons);
    const statuses = statusesFromText(section).filter((s) => s.startsWith('5') || s.startsWith('4'));
    const bounceStatuses = statuses.length > 0 ? statuses : [notice.status];
    return result('bounce', reasons, {
      statuses: bounceStatuses, recipients: unique([...failedRecipientsHeader(msg), ...recipientsFromText(section, excluded(msg))]),
      permanent: permanentOf(bounceStatuses),
    });
  }

  // 4. Bounces written for people. Who sent it decides how much evidence the content needs; a
  // person's letter about a delivery problem (greeting, sign-off, first-person prose) needs a machine sender.
  const subjectSaysBounce = looksLikeBounceSubject(msg.subject);
  const bodyPhrase = once(() => bounceBodyPhrase(section));
  const wording = once(() => bodyPhrase() ?? bounceWording(section));
  const structure = once(() => reportStructure(msg, section));
  const failedHeader = header(msg, 'x-failed-recipients') !== null;
  const daemon = DAEMON_SENDER.test(fromLocal);
  const postmaster = POSTMASTER_SENDER.test(fromLocal) || (msg.from !== null && DAEMON_NAME.test(msg.from.name));
  const nullSender = msg.returnPath === '';
  const machineSender = failedHeader || daemon || postmaster || nullSender || signals.autoReasons.some((r) => r.startsWith('auto-submitted'));
  const isReceipt = (RECEIPT_SUBJECT.test(msg.subject) && RECEIPT_BODY.test(section)) || (machineSender && SUCCESS_SUBJECT.test(msg.subject));
  // The same disjunction as always; within each conjunction the cheap facts come first and the
  // scans last (every operand is pure, so && and || give the same value in any order).
  const isBounce =
    !isReceipt &&
    (failedHeader ||
      daemon ||
      (machineSender && (subjectSaysBounce || bodyPhrase() !== null)) ||
      ((postmaster || nullSender) && !personal() && (wording() !== null || structure() === 'smtp transcript')) ||
      (!forwarded && subjectSaysBounce && !personal() && (bodyPhrase() !== null || (wording() !== null && structure() !== null))) ||
      (!forwarded && bodyPhrase() !== null && !personal() && structure() !== null));
  if (isBounce) {
    // The reasons read the wording and structure: only a bounce needs them.
    const bounceReasons: string[] = [];
    if (failedHeader) bounceReasons.push('x-failed-recipients header');
    if (daemon) bounceReasons.push(`sender ${fromLocal.toLowerCase()}`);
    else if (postmaster) bounceReasons.push(`sender ${fromLocal.toLowerCase() || msg.from?.name}`);
    if (subjectSaysBounce) bounceReasons.push('bounce subject');
    const w = wording();
    if (w) bounceReasons.push(`bounce text: ${w.slice(0, 60)}`);
    const st = structure();
    if (st) bounceReasons.push(st);
    if (nullSender) bounceReasons.push('empty return-path');
    return result('bounce', [...bounceReasons, ...signals.autoReasons], bounceFromText(msg, section));
  }
  if (isReceipt) return result('delivery-report', ['delivery receipt', ...signals.autoReasons]);

  // 5. Auto-replies and other machine-sent mail.
  const autoReasons = [...signals.autoReasons];
  if (nullSender) autoReasons.push('empty return-path');
  if (daemon || postmaster) autoReasons.push(`sender ${fromLocal.toLowerCase() || msg.from?.name}`);
  if (autoReasons.length > 0) return result('auto-reply', [...autoReasons, ...signals.listReasons]);

  // 6. List mail written by a person: still never answered automatically (spec 3.2).
  if (mailingList) return result('human', signals.listReasons);
  return result('human', []);
}
