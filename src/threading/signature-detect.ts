// Finds where the sender's signature starts in the lines of what they newly wrote: the "-- "
// delimiter, a client's "Sent from my …", a "-Name" line, a rule line with a footer below it,
// and (plain-text mail only) a sign-off such as "Thanks,\nName" or a trailing contact block.
// Pure and linear: each line is looked at a bounded number of times.

import { isMobileSignature, isRuleLine, isSignatureDelimiter, trimEndChars } from './quote-lines.js';

/** The HTML converter's mark for an element the client itself labelled as the signature. */
export const SIGNATURE_MARK = '\u0001signature\u0001';

/** Sign-off phrases (lower-cased, without trailing punctuation) that open a "Thanks,\nName" block. */
const SIGN_OFFS = new Set([
  'thanks', 'thank you', 'thanks a lot', 'thanks again', 'many thanks', 'thanks in advance', 'thank you in advance', 'thx', 'ty',
  'regards', 'best regards', 'kind regards', 'warm regards', 'with regards', 'with best regards', 'best', 'all the best', 'best wishes',
  'cheers', 'sincerely', 'yours sincerely', 'sincerely yours', 'yours truly', 'yours', 'respectfully', 'br', 'rgds', 'kr',
  'cordialement', 'bien cordialement', 'bien à vous', 'merci', 'merci beaucoup', 'salutations', 'mit freundlichen grüßen',
  'mit freundlichen grüssen', 'viele grüße', 'viele grüsse', 'beste grüße', 'grüße', 'gruß', 'lg', 'mfg', 'vg', 'danke',
  'saludos', 'saludos cordiales', 'un saludo', 'atentamente', 'gracias', 'muchas gracias', 'cumprimentos', 'obrigado', 'obrigada',
  'atenciosamente', 'cordiali saluti', 'distinti saluti', 'saluti', 'grazie', 'met vriendelijke groet', 'vriendelijke groet',
  'groeten', 'groet', 'bedankt', 'med vänliga hälsningar', 'vänliga hälsningar', 'hälsningar', 'mvh', 'med venlig hilsen',
  'venlig hilsen', 'hilsen', 'med vennlig hilsen', 'pozdrawiam', 'z poważaniem', 'dziękuję', 's pozdravem', 'с уважением',
  'спасибо', 'з повагою', 'ystävällisin terveisin', 'terveisin', 'üdvözlettel', 'saygılarımla',
]);

function isSignOff(line: string): boolean {
  const s = trimEndChars(line, ',.!:; \t').toLowerCase();
  return s.length > 0 && s.length <= 40 && SIGN_OFFS.has(s);
}

/** "-Abhishek Kona", "- John": a dash and a capitalised name of at most four words. */
function isDashName(s: string): boolean {
  if (!s.startsWith('-') || s.startsWith('--') || s.length > 40) return false;
  const words = s.slice(1).trim().split(/\s+/);
  if (words.length === 0 || words.length > 4) return false;
  // "- A" is a list item: a name after "- " has at least two letters ("-J" initials stay a sign-off).
  if (s[1] === ' ' && words.some((w) => w.replace(/[.'’-]/g, '').length < 2)) return false;
  return words.every((w) => /^[\p{Lu}][\p{L}.'’-]*$/u.test(w));
}

const CONTACT = /@|https?:\/\/|www\.|\+?\(?\d{2,4}\)?[\s.-]\d{2,4}[\s.-]\d{2,5}/i;
const VIA_MOBILE = /^(?:sent )?(?:via|from) (?:mobile|my (?:phone|mobile|cell))\b/i;

function wordCount(s: string): number {
  return s === '' ? 0 : s.split(/\s+/).length;
}

/** Indices of the non-blank lines in [from, to). */
function nonBlank(lines: readonly string[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) if (lines[i] !== '') out.push(i);
  return out;
}

function isBlank(s: string): boolean {
  return s === '';
}

/** A dash line under a list item or an intro ending in ":" is the list's next item, never a sign-off. */
function inList(lines: readonly string[], from: number, i: number): boolean {
  const above = nonBlank(lines, Math.max(from, i - 12), i).at(-1);
  if (above === undefined) return false;
  const prev = lines[above] ?? '';
  return prev.endsWith(':') || /^[-*•] /.test(prev) || (prev.startsWith('-') && !prev.startsWith('--'));
}

export interface SignatureOptions {
  /** Guess from sign-offs and contact blocks; off for HTML mail, whose clients mark signatures themselves. */
  guess: boolean;
}

/**
 * Index in lines[from, to) where the signature starts, or -1. `lines` are normalised (norm()). Only the tail is searched: a
 * signature is at most a few short lines at the end of what the sender wrote, and never the
 * whole of it.
 */
export function findSignatureStart(lines: readonly string[], from: number, to: number, opts: SignatureOptions): number {
  const content = nonBlank(lines, from, to);
  if (content.length < 2) {
    // A lone "Sent from my iPhone" under nothing else is still a signature, not a message.
    const only = content[0];
    return only !== undefined && (isMobileSignature(lines[only] ?? '') || lines[only] === SIGNATURE_MARK) ? only : -1;
  }
  const first = content[0] ?? from;
  const tail = content.slice(-25);
  // Markers that open a signature wherever they sit in the tail; the earliest wins.
  for (const i of tail) {
    if (i === first) continue;
    const line = lines[i] ?? '';
    if (line === SIGNATURE_MARK || isSignatureDelimiter(line)) return i;
  }
  for (let k = 0; k < tail.length; k++) {
    const i = tail[k] ?? 0;
    if (i === first) continue;
    const line = lines[i] ?? '';
    const after = tail.length - k - 1;
    if (isMobileSignature(line) && after <= 3) return i;
    if (isDashName(line) && after <= 8 && isBlank(lines[i - 1] ?? '') && !inList(lines, from, i)) return i;
    if (isRuleLine(line) && after >= 1 && after <= 15 && tail.slice(k + 1).every((j) => (lines[j] ?? '').length <= 100)) return i;
  }
  if (!opts.guess) return -1;
  // Sign-off: "Thanks,\nName" with at most five short lines under it.
  for (let k = Math.max(0, tail.length - 7); k < tail.length; k++) {
    const i = tail[k] ?? 0;
    if (i === first) continue;
    const rest = tail.slice(k + 1);
    if (rest.length >= 1 && rest.length <= 5 && isSignOff(lines[i] ?? '') &&
      rest.every((j) => (lines[j] ?? '').length <= 60 && wordCount((lines[j] ?? '')) <= 8)) return i;
  }
  // Contact block: the last paragraph, a few short lines holding an address, phone, URL or "via mobile".
  let start = to;
  while (start > from && isBlank(lines[start - 1] ?? '')) start--;
  const end = start;
  while (start > from && !isBlank(lines[start - 1] ?? '')) start--;
  if (start <= first) return -1;
  const block = lines.slice(start, end);
  if (block.length < 2 || block.length > 8) return -1;
  if (!block.every((l) => l.length <= 60 && !/[?:]$/.test(l) && !l.startsWith('>'))) return -1;
  if (block.filter((l) => wordCount(l) > 6).length > 1) return -1;
  if (!block.some((l) => CONTACT.test(l) || VIA_MOBILE.test(l))) return -1;
  // A sign-off line just above the block belongs to it ("Regards,\n\nJohn\njohn@x").
  const above = nonBlank(lines, from, start).at(-1);
  if (above !== undefined && above !== first && isSignOff(lines[above] ?? '')) return above;
  return start;
}
