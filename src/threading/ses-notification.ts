// Amazon SES notifications (bounce, complaint, delivery and the event-publishing kinds), whether
// the body is the notification JSON itself or an SNS envelope whose `Message` is that JSON as a
// string. Field names follow AWS's published notification contents. Pure: reads the text and
// JSON parts of the ParsedMessage it is given.
import type { ParsedMessage } from './parsed-message.js';
import { normaliseStatus } from './bounce-report.js';

/** Notifications are a few KB; a huge body is not one and is not worth parsing. */
const MAX_JSON_CHARS = 128 * 1024;
const MAX_RECIPIENTS = 100;

export interface SesNotification {
  /** notificationType / eventType as SES wrote it, e.g. "Bounce", "Complaint", "DeliveryDelay". */
  type: string;
  /** True when the SES JSON came inside an SNS envelope. */
  viaSns: boolean;
  recipients: string[];
  statuses: string[];
  /** Bounce: bounceType Permanent. */
  permanent: boolean;
  /** bounceSubType, complaintFeedbackType or delayType, for the reasons. */
  detail: string | null;
  /** Message-ID of the mail the notice is about, as we wrote it (mail.commonHeaders / mail.headers). */
  originalMessageIds: string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

/** The one JSON object the text consists of (an SNS email subscription appends a plain footer). */
function jsonObjectOf(text: string): Json | null {
  const t = text.length > MAX_JSON_CHARS ? '' : text.trimStart();
  if (!t.startsWith('{')) return null;
  // Try the whole text, then up to the last closing brace (drops the unsubscribe footer).
  for (const candidate of [t, t.slice(0, t.lastIndexOf('}') + 1)]) {
    try {
      const v: unknown = JSON.parse(candidate);
      if (isObject(v)) return v;
    } catch {
      // not this candidate
    }
  }
  return null;
}

function sesTypeOf(o: Json): string | null {
  const type = str(o['notificationType']) ?? str(o['eventType']);
  // Every SES notification describes the mail it is about; a stray "eventType" key alone is not SES.
  return type && isObject(o['mail']) ? type : null;
}

/** x.y.z from the bounce subtype when SES gives no status: the class follows the bounce type. */
const SUBTYPE_DETAIL: Record<string, string> = {
  noemail: '1.1', suppressed: '1.1', onaccountsuppressionlist: '1.1', mailboxfull: '2.2',
  messagetoolarge: '3.4', contentrejected: '7.1', attachmentrejected: '7.1',
};

function addresses(list: unknown, field: string | null): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const item of list.slice(0, MAX_RECIPIENTS)) {
    const raw = field === null ? str(item) : isObject(item) ? str(item[field]) : null;
    // "Name <a@b>" appears in some SES recipient fields.
    const addr = raw?.replace(/^.*<([^>]+)>.*$/, '$1').trim().toLowerCase() ?? null;
    if (addr && addr.includes('@') && !out.includes(addr)) out.push(addr);
  }
  return out;
}

/** SES sends with its own Message-ID; the one we wrote survives in the mail object's headers. */
function originalIds(o: Json): string[] {
  const mail = isObject(o['mail']) ? o['mail'] : {};
  const found: string[] = [];
  const common = isObject(mail['commonHeaders']) ? str(mail['commonHeaders']['messageId']) : null;
  if (common) found.push(common);
  if (Array.isArray(mail['headers'])) {
    for (const h of mail['headers'].slice(0, 200)) {
      if (isObject(h) && str(h['name'])?.toLowerCase() === 'message-id' && str(h['value'])) found.push(str(h['value'])!);
    }
  }
  return [...new Set(found.map((id) => (id.startsWith('<') ? id : `<${id}>`)))];
}

function readSes(o: Json, type: string, viaSns: boolean): SesNotification {
  const base: SesNotification = { type, viaSns, recipients: [], statuses: [], permanent: false, detail: null, originalMessageIds: originalIds(o) };
  const key = type.toLowerCase();
  if (key === 'bounce') {
    const b = isObject(o['bounce']) ? o['bounce'] : {};
    const bounceType = (str(b['bounceType']) ?? '').toLowerCase();
    const subType = str(b['bounceSubType']);
    const klass = bounceType === 'permanent' ? '5' : '4';
    const statuses: string[] = [];
    const list = Array.isArray(b['bouncedRecipients']) ? b['bouncedRecipients'] : [];
    for (const r of list.slice(0, MAX_RECIPIENTS)) {
      if (!isObject(r)) continue;
      const s = normaliseStatus(str(r['status'])) ?? normaliseStatus(str(r['diagnosticCode']));
      if (s && !statuses.includes(s)) statuses.push(s);
    }
    if (statuses.length === 0) statuses.push(`${klass}.${SUBTYPE_DETAIL[(subType ?? '').toLowerCase()] ?? '0.0'}`);
    return {
      ...base,
      recipients: addresses(list, 'emailAddress'),
      statuses,
      // SES's own verdict, confirmed by the codes: a Permanent bounce quoting a 4.x.x stays non-final.
      permanent: bounceType === 'permanent' && statuses.every((s) => s.startsWith('5')),
      detail: [str(b['bounceType']), subType].filter(Boolean).join('/') || null,
    };
  }
  if (key === 'complaint') {
    const c = isObject(o['complaint']) ? o['complaint'] : {};
    return { ...base, recipients: addresses(c['complainedRecipients'], 'emailAddress'), detail: str(c['complaintFeedbackType']) };
  }
  if (key === 'delivery') {
    const d = isObject(o['delivery']) ? o['delivery'] : {};
    const status = normaliseStatus(str(d['smtpResponse']));
    return { ...base, recipients: addresses(d['recipients'], null), statuses: status ? [status] : [] };
  }
  if (key === 'deliverydelay') {
    const d = isObject(o['deliveryDelay']) ? o['deliveryDelay'] : {};
    const list = Array.isArray(d['delayedRecipients']) ? d['delayedRecipients'] : [];
    const statuses = list.filter(isObject).map((r) => normaliseStatus(str(r['status']))).filter((s): s is string => s !== null);
    return { ...base, recipients: addresses(list, 'emailAddress'), statuses: statuses.length ? [...new Set(statuses)] : ['4.0.0'], detail: str(d['delayType']) };
  }
  return base;
}

/** The SES notification the message carries as its body, or null. */
export function readSesNotification(msg: Pick<ParsedMessage, 'text' | 'attachments'>): SesNotification | null {
  const bodies = [msg.text ?? ''];
  for (const a of msg.attachments) {
    if (a.contentType.toLowerCase().startsWith('application/json') && a.size <= MAX_JSON_CHARS) bodies.push(a.content.toString('utf8'));
  }
  for (const body of bodies) {
    const o = jsonObjectOf(body);
    if (!o) continue;
    const direct = sesTypeOf(o);
    if (direct) return readSes(o, direct, false);
    // SNS envelope: Type "Notification" and the SES JSON as a string in Message.
    if (str(o['Type']) && str(o['TopicArn']) && typeof o['Message'] === 'string') {
      const inner = jsonObjectOf(o['Message']);
      const type = inner ? sesTypeOf(inner) : null;
      if (inner && type) return readSes(inner, type, true);
    }
  }
  return null;
}
