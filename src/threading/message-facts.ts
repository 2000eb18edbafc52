// Facts about one parsed message that the intake decides on: every address it was sent to, the
// Message-IDs of the original inside a bounce or report, and whether the new text is a close
// request. Pure: plain data in, plain data out.
import type { ParsedMessage } from './parsed-message.js';
import { readSesNotification } from './ses-notification.js';

/** Every address the message was addressed to: headers, trace headers and the SMTP envelope. */
export function recipientsOf(parsed: ParsedMessage, envelopeRecipients: readonly string[]): string[] {
  const all = [...parsed.to, ...parsed.cc].map((a) => a.address).concat(parsed.deliveredTo, envelopeRecipients);
  return [...new Set(all.map((a) => a.toLowerCase()).filter(Boolean))];
}

/** Message-IDs of the original message inside a bounce or report (its returned headers). */
export function originalMessageIds(parsed: ParsedMessage): string[] {
  const ids: string[] = [];
  for (const a of parsed.attachments) {
    if (!/^(message\/rfc822|text\/rfc822-headers|message\/rfc822-headers|message\/global|message\/global-headers)$/i.test(a.contentType)) continue;
    const text = a.content.subarray(0, 64 * 1024).toString('latin1');
    const m = /^message-id:\s*(<[^>\r\n]{1,500}>)/im.exec(text);
    if (m?.[1]) ids.push(m[1]);
  }
  const inBody = /^message-id:\s*(<[^>\r\n]{1,500}>)/gim;
  for (const m of parsed.text.slice(0, 64 * 1024).matchAll(inBody)) if (m[1] && m[1] !== parsed.messageId) ids.push(m[1]);
  // An Amazon SES notification names the original in its JSON, not in returned headers.
  if (ids.length === 0) ids.push(...(readSesNotification(parsed)?.originalMessageIds ?? []));
  return ids;
}

/** The first non-empty line of the new text is one of the close phrases (case- and punctuation-insensitive). */
export function isClosePhrase(text: string, phrases: readonly string[]): boolean {
  const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0);
  if (!first) return false;
  const norm = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, ' ').replace(/\s+/g, ' ').trim();
  const line = norm(first);
  return phrases.some((p) => norm(p) === line);
}
