// Is the stated originator of a message doubtful? RFC 5322 3.6.2 allows one From field, and
// several mailboxes in it only when Sender names the one who sent it. Anything else leaves us
// guessing who wrote the message, so it must not decide case membership. Pure.
import type { ParsedMessage } from './parsed-message.js';

/** Why the sender is doubtful, or null when From names one sender plainly. */
export function doubtfulOriginator(msg: Pick<ParsedMessage, 'originator'>): string | null {
  // Absent on hand-built messages: read as one From field holding `from`.
  const o = msg.originator;
  if (!o) return null;
  if (o.fromFields > 1) return `${o.fromFields} From header fields`;
  if (o.fromMailboxes.length > 1 && !o.sender?.address) return `${o.fromMailboxes.length} From mailboxes and no Sender`;
  return null;
}
