// The reply marker: one short line casemail puts above the text of every mail it sends (text and
// HTML parts, added when a mail is rendered). A reply that still carries it is cut exactly there,
// as the large hosted helpdesks do; the quote heuristics only judge replies that lost it. Pure.

/** The marker line as sent. Changing the wording breaks recognition of replies to mail already sent. */
export const REPLY_MARKER = '##- Please type your reply above this line -##';

/** The words recognised, so a client that re-wraps, bolds or re-cases the line still matches. */
const MARKER_WORDS = 'please type your reply above this line';

/**
 * Whether a line (normalised: trimmed, capped) is the marker, also under `>` / `> >` / `|` quote
 * prefixes and the `*`/`_` a client's text conversion wraps emphasis in.
 */
export function isReplyMarkerLine(line: string): boolean {
  if (line.length > 200 || !line.includes('##')) return false;
  let i = 0;
  while (i < line.length && i < 40 && '> *_|'.includes(line[i] ?? '')) i++;
  if (!line.startsWith('##', i)) return false;
  return line.slice(i).toLowerCase().replace(/\s+/g, ' ').includes(MARKER_WORDS);
}

/** Index of the first marker line in normalised lines, or -1. */
export function findReplyMarker(lines: readonly string[]): number {
  for (let i = 0; i < lines.length; i++) if (isReplyMarkerLine(lines[i] ?? '')) return i;
  return -1;
}
