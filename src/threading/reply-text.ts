// Quote and signature stripping: what the sender newly wrote in a reply, from its text or HTML body.
// The plain text is split; when there is HTML, its structure (blockquote, Outlook/Yahoo quote
// containers, <hr>) is converted and split too, and the better-founded split wins.
// Pure and linear-time: no input may take more than 100 ms.

import { htmlToQuoteText } from './quote-html.js';
import { splitReply, type ReplySplit } from './reply-split.js';

export interface ReplyText {
  /** What the sender newly wrote: quoted history and signature removed. */
  visibleText: string;
  /** What was removed. */
  removedText: string;
  /** The signature block, or null. */
  signature: string | null;
}

function toLines(text: string): string[] {
  return text.replace(/\r\n?/g, '\n').split('\n');
}

export function extractReply(input: { text: string; html: string | null }): ReplyText {
  // Sign-offs ("Thanks,\nAlex") are only guessed in plain-text mail: HTML clients mark their
  // signatures (gmail_signature, moz-signature, …), and a hand-typed sign-off there is content.
  const opts = { guess: input.html === null };
  const fromText = splitReply(toLines(input.text), opts);
  if (input.html === null) return toReplyText(fromText);
  // The HTML's structure says exactly what is quoted; text derived from HTML often does not
  // (blockquotes flattened, converter debris), so the HTML is split too.
  const fromHtml = splitReply(toLines(htmlToQuoteText(input.html)), opts);
  if (!fromHtml.quoteFound && input.text.trim() !== '') return toReplyText(fromText);
  if (!fromText.quoteFound) return toReplyText(fromHtml);
  // Both show quoted history: they should agree. When they do not, the one that kept less is the
  // one that recognised more of the history as such (a flattened quote reads as new text).
  return toReplyText(compact(fromText.visible) < compact(fromHtml.visible) ? fromText : fromHtml);
}

function compact(s: string): number {
  let n = 0;
  for (const c of s) if (c !== ' ' && c !== '\n' && c !== '\t') n++;
  return n;
}

function toReplyText(best: ReplySplit): ReplyText {
  return { visibleText: best.visible, removedText: best.removed, signature: best.signature };
}
