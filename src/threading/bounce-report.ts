// Machine-readable reports inside a message: RFC 3464 delivery-status parts (bounces and
// success DSNs), RFC 8098 disposition notifications (read receipts) and RFC 5965 ARF feedback
// reports. Pure: reads the report parts the parser put among the attachments.
import type { ParsedAttachment, ParsedMessage } from './parsed-message.js';

/** Report parts are small; anything beyond this is not a report worth reading. */
const MAX_REPORT_BYTES = 64 * 1024;

export interface DsnRecipient {
  recipient: string | null;
  action: string | null;
  status: string | null;
  diagnostic: string | null;
}

export interface ReportSummary {
  kind: 'delivery-status' | 'disposition' | 'feedback' | null;
  /** Per-recipient blocks of a delivery-status part (empty for other kinds). */
  recipients: DsnRecipient[];
  /** Feedback-Type of an ARF report or Disposition of an MDN, lower-cased. */
  detail: string | null;
}

const ENHANCED_STATUS = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)/;

/** "5.1.1 (user unknown)" -> "5.1.1"; null when there is no enhanced status code. */
export function normaliseStatus(value: string | null | undefined): string | null {
  if (!value) return null;
  const m = ENHANCED_STATUS.exec(value);
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : null;
}

/** Parses header-like "Name: value" blocks separated by blank lines (RFC 3464 section 2). */
export function parseFieldBlocks(text: string): Array<Map<string, string>> {
  const blocks: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let lastName: string | null = null;
  for (const raw of text.slice(0, MAX_REPORT_BYTES).split(/\r?\n/)) {
    if (raw.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      lastName = null;
      continue;
    }
    if (/^[ \t]/.test(raw) && lastName) {
      current.set(lastName, `${current.get(lastName) ?? ''} ${raw.trim()}`);
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0 || colon > 60) continue;
    const name = raw.slice(0, colon).trim().toLowerCase();
    if (!/^[a-z0-9-]+$/.test(name)) continue;
    lastName = name;
    // The first occurrence wins: duplicates in broken reports should not overwrite it.
    if (!current.has(name)) current.set(name, raw.slice(colon + 1).trim());
  }
  if (current.size > 0) blocks.push(current);
  return blocks;
}

/** "rfc822; <User@Host>" -> "user@host". */
export function addressFromTypedField(value: string | undefined): string | null {
  if (!value) return null;
  const semi = value.indexOf(';');
  const addr = (semi >= 0 ? value.slice(semi + 1) : value).trim().replace(/^<|>$/g, '').trim().toLowerCase();
  return addr.includes('@') ? addr : null;
}

function partType(a: ParsedAttachment): string {
  return a.contentType.toLowerCase().split(';')[0]!.trim();
}

function findPart(msg: ParsedMessage, types: readonly string[]): ParsedAttachment | null {
  return msg.attachments.find((a) => types.includes(partType(a))) ?? null;
}

function partText(a: ParsedAttachment): string {
  return a.content.subarray(0, MAX_REPORT_BYTES).toString('utf8');
}

/** Reads whichever machine-readable report the message carries, if any. */
export function readReport(msg: ParsedMessage): ReportSummary {
  const reportType = (msg.contentTypeParams['report-type'] ?? '').toLowerCase();

  const arf = findPart(msg, ['message/feedback-report']);
  if (reportType === 'feedback-report' || arf) {
    const fields = arf ? parseFieldBlocks(partText(arf))[0] : undefined;
    return { kind: 'feedback', recipients: [], detail: fields?.get('feedback-type')?.toLowerCase() ?? null };
  }

  const mdn = findPart(msg, ['message/disposition-notification', 'message/global-disposition-notification']);
  if (reportType === 'disposition-notification' || mdn) {
    const fields = mdn ? parseFieldBlocks(partText(mdn))[0] : undefined;
    return { kind: 'disposition', recipients: [], detail: fields?.get('disposition')?.toLowerCase() ?? null };
  }

  const dsn = findPart(msg, ['message/delivery-status', 'message/global-delivery-status']);
  if (reportType === 'delivery-status' || dsn) {
    const recipients: DsnRecipient[] = [];
    if (dsn) {
      // Block 0 is per-message (Reporting-MTA, ...); the rest describe one recipient each. Some MTAs
      // put everything in one block, so any block with a recipient or action field counts.
      for (const block of parseFieldBlocks(partText(dsn))) {
        const recipient = addressFromTypedField(block.get('final-recipient') ?? block.get('original-recipient'));
        const action = block.get('action')?.toLowerCase().split(/[\s(;]/)[0] ?? null;
        if (!recipient && !action && !block.has('status')) continue;
        recipients.push({
          recipient,
          action,
          status: normaliseStatus(block.get('status')) ?? normaliseStatus(block.get('diagnostic-code')),
          diagnostic: block.get('diagnostic-code') ?? null,
        });
      }
    }
    return { kind: 'delivery-status', recipients, detail: null };
  }

  return { kind: null, recipients: [], detail: null };
}
