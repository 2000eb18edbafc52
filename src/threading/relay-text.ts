// The plain text a customer receives when an engineer's reply is relayed: the body left after the
// command block (engineer-commands.ts), with the engineer's signature kept. Pure; quote removal is
// extractReply's job (reply-text.ts), command removal the parser's.

import { norm } from './quote-lines.js';
import { findReplyMarker } from './reply-marker.js';

/**
 * The relayed text: the command parse's body with trailing whitespace (and leading blank lines)
 * trimmed, and cut at our reply marker should one still be in it (extractReply cuts there already;
 * this keeps our own notification from ever being relayed to a customer).
 */
export function relayText(body: string): string {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  const m = findReplyMarker(lines.map(norm));
  const kept = m < 0 ? lines : lines.slice(0, m);
  return kept.join('\n').replace(/^(?:[ \t]*\n)+/, '').trimEnd();
}

/**
 * relayText plus the signature extractReply split off: the customer sees who answered. A reply
 * with no text of its own (only commands) stays empty: a lone signature is not worth a mail, and
 * the caller tells "nothing to relay" by the empty string.
 */
export function relayTextWithSignature(body: string, signature: string | null): string {
  const text = relayText(body);
  if (text === '') return '';
  // The quote stripper hands the separator back as "--"; mail clients find a signature by "-- ".
  const sig = signature === null ? '' : relayText(signature).replace(/^--[ \t]*(?=\n|$)/, '-- ');
  return sig === '' ? text : `${text}\n\n${sig}`;
}
