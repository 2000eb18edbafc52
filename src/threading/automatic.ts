// Automatic-mail detection: auto-replies, bounces, delivery and feedback reports, list mail and
// our own mail coming back. Pure: reads only the ParsedMessage it is given. Order (spec 3):
// loop, machine-readable reports, human-readable bounces, auto-reply signals, list mail.
// Helpers: bounce-report.ts (RFC 3464/8098/5965 parts), bounce-text.ts (MTA wording),
// auto-reply.ts (headers and vacation subjects).
import { header, type ParsedMessage } from './parsed-message.js';
import { readReport, type DsnRecipient } from './bounce-report.js';
import {
  bounceBodyPhrase, looksLikeBounceSubject, looksLikeDelaySubject, recipientsFromText, reportSection, statusesFromText,
} from './bounce-text.js';
import { readHeaderSignals } from './auto-reply.js';

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

const DAEMON_SENDER = /^(?:mailer-?daemon|mailer_daemon|mail-?daemon|mailerdaemon)$/i;
const POSTMASTER_SENDER = /^(?:postmaster|mail-delivery-system|mail\.delivery\.system)$/i;
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
  const fromLocal = localPart(msg.from?.address);
  const section = reportSection(msg.text ?? '');
  if (report.kind === 'feedback') return result('feedback-report', [`feedback report${report.detail ? `: ${report.detail}` : ''}`, ...signals.autoReasons]);
  if (report.kind === 'disposition') return result('delivery-report', [`disposition notification${report.detail ? `: ${report.detail}` : ''}`, ...signals.autoReasons]);
  if (report.kind === 'delivery-status') {
    const failed = report.recipients.filter((r) => r.action === null || r.action === 'failed' || r.action === 'delayed');
    const succeeded = report.recipients.filter((r) => r.action === 'delivered' || r.action === 'relayed' || r.action === 'expanded');
    if (succeeded.length > 0 && failed.length === 0) {
      return result('delivery-report', [`delivery status notification: ${unique(succeeded.map((r) => r.action!)).join(', ')}`, ...signals.autoReasons]);
    }
    const actions = unique(failed.map((r) => r.action ?? 'unknown'));
    return result('bounce', [`delivery status notification${actions.length ? `: ${actions.join(', ')}` : ''}`, ...signals.autoReasons], bounceFromDsn(failed, msg, section));
  }

  // 3. Bounces written for people. Who sent it decides how much evidence the content needs.
  const subjectSaysBounce = looksLikeBounceSubject(msg.subject);
  const bodyPhrase = bounceBodyPhrase(section);
  const forwarded = FORWARD_OR_REPLY.test(msg.subject);
  const bounceReasons: string[] = [];
  const failedHeader = header(msg, 'x-failed-recipients') !== null;
  const daemon = DAEMON_SENDER.test(fromLocal);
  const postmaster = POSTMASTER_SENDER.test(fromLocal) || (msg.from !== null && DAEMON_NAME.test(msg.from.name));
  const nullSender = msg.returnPath === '';
  if (failedHeader) bounceReasons.push('x-failed-recipients header');
  if (daemon) bounceReasons.push(`sender ${fromLocal.toLowerCase()}`);
  else if (postmaster) bounceReasons.push(`sender ${fromLocal.toLowerCase() || msg.from?.name}`);
  if (subjectSaysBounce) bounceReasons.push('bounce subject');
  if (bodyPhrase) bounceReasons.push(`bounce text: ${bodyPhrase.slice(0, 60)}`);
  const machineSender = failedHeader || daemon || postmaster || nullSender || signals.autoReasons.some((r) => r.startsWith('auto-submitted'));
  const isReceipt = (RECEIPT_SUBJECT.test(msg.subject) && RECEIPT_BODY.test(section)) || (machineSender && SUCCESS_SUBJECT.test(msg.subject));
  const isBounce =
    !isReceipt &&
    (failedHeader ||
      daemon ||
      (machineSender && (subjectSaysBounce || bodyPhrase !== null)) ||
      (!forwarded && subjectSaysBounce && bodyPhrase !== null));
  if (isBounce) {
    if (nullSender) bounceReasons.push('empty return-path');
    return result('bounce', [...bounceReasons, ...signals.autoReasons], bounceFromText(msg, section));
  }
  if (isReceipt) return result('delivery-report', ['delivery receipt', ...signals.autoReasons]);

  // 4. Auto-replies and other machine-sent mail.
  const autoReasons = [...signals.autoReasons];
  if (nullSender) autoReasons.push('empty return-path');
  if (daemon || postmaster) autoReasons.push(`sender ${fromLocal.toLowerCase() || msg.from?.name}`);
  if (autoReasons.length > 0) return result('auto-reply', [...autoReasons, ...signals.listReasons]);

  // 5. List mail written by a person: still never answered automatically (spec 3.2).
  if (mailingList) return result('human', signals.listReasons);
  return result('human', []);
}
