// Quote and signature stripping: what the sender newly wrote in a reply, from its text or HTML body.
// Pure and linear-time: no input may take more than 100 ms.

export interface ReplyText {
  /** What the sender newly wrote: quoted history and signature removed. */
  visibleText: string;
  /** What was removed. */
  removedText: string;
  /** The signature block, or null. */
  signature: string | null;
}

// PLACEHOLDER until the quote-stripping work lands: returns the whole text as new.
export function extractReply(input: { text: string; html: string | null }): ReplyText {
  return { visibleText: input.text, removedText: '', signature: null };
}
