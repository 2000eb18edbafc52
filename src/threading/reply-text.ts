// Quote and signature stripping: what the sender newly wrote in a reply, from its text or HTML body.
// The plain text is split first; when it shows no quoted history and there is HTML, the HTML's
// structure (blockquote, Outlook/Yahoo quote containers, <hr>) is converted and split instead.
// Pure and linear-time: no input may take more than 100 ms.

import { htmlToQuoteText } from './quote-html.js';
import { splitReply } from './reply-split.js';

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
  let best = fromText;
  if (input.html !== null && (!fromText.quoteFound || input.text.trim() === '')) {
    const fromHtml = splitReply(toLines(htmlToQuoteText(input.html)), opts);
    if (fromHtml.quoteFound || input.text.trim() === '') best = fromHtml;
  }
  return { visibleText: best.visible, removedText: best.removed, signature: best.signature };
}
