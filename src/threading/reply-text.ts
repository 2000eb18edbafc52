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

/**
 * Quote and signature detection read at most this much text (and, for HTML-only mail, HTML) from
 * the top, where replies put what is new; the rest is judged as a whole (see withinWindow). This
 * keeps the step bounded on pasted logs and giant newsletters.
 */
export const MAX_ANALYSED_TEXT = 64 * 1024;
export const MAX_ANALYSED_HTML = 192 * 1024;

export function extractReply(input: { text: string; html: string | null }): ReplyText {
  if (input.text.length <= MAX_ANALYSED_TEXT && (input.html === null || input.html.length <= MAX_ANALYSED_HTML)) return extractWhole(input);
  return withinWindow(input);
}

/**
 * A long message: the first MAX_ANALYSED_TEXT characters (to the end of the line they end in) are split as usual.
 * What follows continues whatever the window ended in: when the new text runs up to the cut (a
 * long message with no history, or an answer below a quote), it is new text too; when the window
 * ended in quoted history or a signature, it is more of that.
 */
function withinWindow(input: { text: string; html: string | null }): ReplyText {
  const text = input.text.replace(/\r\n?/g, '\n');
  // The line the window ends in is read whole: recognisers look at a capped start of each line anyway.
  let cut = text.length > MAX_ANALYSED_TEXT ? text.indexOf('\n', MAX_ANALYSED_TEXT) : text.length;
  if (cut < 0) cut = text.length;
  const head = text.slice(0, cut);
  const rest = text.slice(cut);
  const html = input.html === null ? null : input.html.slice(0, MAX_ANALYSED_HTML);
  const r = extractWhole({ text: head, html });
  if (rest.trim() === '') return r;
  const lastHeadLine = lastNonBlankLine(head);
  const visibleToCut = lastHeadLine !== '' && r.visibleText.trimEnd().endsWith(lastHeadLine);
  if (visibleToCut) {
    return { visibleText: (r.visibleText + '\n' + rest).trim(), removedText: r.removedText, signature: r.signature };
  }
  return { visibleText: r.visibleText, removedText: (r.removedText + '\n' + rest).trim(), signature: r.signature };
}

function lastNonBlankLine(s: string): string {
  let end = s.length;
  while (end > 0) {
    const start = s.lastIndexOf('\n', end - 1) + 1;
    const line = s.slice(start, end).trim();
    if (line !== '') return line;
    end = start - 1;
  }
  return '';
}

function extractWhole(input: { text: string; html: string | null }): ReplyText {
  // Sign-offs ("Thanks,\nAlex") are only guessed in plain-text mail: HTML clients mark their
  // signatures (gmail_signature, moz-signature, …), and a hand-typed sign-off there is content.
  const opts = { guess: input.html === null };
  const fromText = splitReply(toLines(input.text), opts);
  if (input.html === null) return toReplyText(fromText);
  // The HTML's structure says exactly what is quoted; text derived from HTML often does not
  // (blockquotes flattened, converter debris), so the HTML is split too.
  const fromHtml = splitReply(toLines(htmlToQuoteText(input.html)), opts);
  // No history in the HTML: the text part is trusted, unless only the HTML shows the signature
  // (Gmail marks it with gmail_signature; its text part has no "-- " unless the user typed one).
  if (!fromHtml.quoteFound && input.text.trim() !== '') {
    const htmlOnlySignature = fromHtml.signature !== null && fromText.signature === null && !fromText.quoteFound && fromHtml.visible !== '';
    return toReplyText(htmlOnlySignature ? fromHtml : fromText);
  }
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
