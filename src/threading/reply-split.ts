// Splits the lines of a reply into what the sender newly wrote, the quoted history and the
// signature. Top-posted, bottom-posted and inline (interleaved) replies are told apart by where the
// unquoted text sits around the first quote. One pass to find the first boundary, one to classify
// the lines after it; every recogniser works on a capped line, so the whole split is linear. Our
// reply marker (reply-marker.ts), when the reply kept it, decides the cut before any of that.

import {
  attributionStrength, headerField, isAddressedFromLine, isBareOriginalMessageLine, mentionsWrote, isForwardMarker, isMobileSignature,
  isOriginalMessageLine, isQuoted, isRuleLine, isSignatureDelimiter, mayStartWrappedAttribution, norm,
  type HeaderStrength, MAX_TEST_CHARS, trimEndChars,
} from './quote-lines.js';
import { QUOTE_MARK } from './quote-html.js';
import { findReplyMarker, REPLY_MARKER } from './reply-marker.js';
import { findSignatureStart, SIGNATURE_MARK, type SignatureOptions } from './signature-detect.js';

export interface ReplySplit {
  /** True when quoted history was found (not only a signature). */
  quoteFound: boolean;
  visible: string;
  removed: string;
  signature: string | null;
}

interface Attribution { end: number; strength: HeaderStrength }

/** An attribution header starting at line i, possibly wrapped over up to four lines. */
function attributionAt(N: readonly string[], i: number): Attribution | null {
  const first = N[i] ?? '';
  if (first === '' || isQuoted(first)) return null;
  const single = attributionStrength(first);
  if (single) return { end: i + 1, strength: single };
  // A wrapped header ends with a colon within the next three lines: check that before anything costly.
  // Some clients also leave blank lines inside it (around a "<mailto:…>" fragment): up to three
  // blank lines are skipped when the first line already opens like an attribution.
  let colonAt = -1;
  let blanks = 0;
  for (let k = 1; k <= 3 + blanks; k++) {
    const next = N[i + k];
    if (next === undefined) break;
    if (next === '') {
      if (blanks === 3 || (blanks === 0 && !mayOpenGappedAttribution(first))) break;
      blanks++;
      continue;
    }
    // After a gap only the header's own pieces follow: the address ("<mailto:…>") or the verb.
    if (blanks > 0 && !next.includes('@') && next.length > 24) break;
    if (next.endsWith(':') || next.endsWith('：')) { colonAt = k; break; }
  }
  if (colonAt < 0 || !mayStartWrappedAttribution(first)) return null;
  let joined = first;
  for (let k = 1; k <= colonAt; k++) {
    const next = N[i + k] ?? '';
    if (next === '') continue;
    // Gmail wraps "<a@b.example\n>:" so the last piece of a header can look like a quote.
    if (isQuoted(next) && next.length > 3) return null;
    joined += ' ' + next;
    if (joined.length > MAX_TEST_CHARS) return null;
    const strength = attributionStrength(joined);
    if (strength) return { end: i + k + 1, strength };
  }
  return null;
}

/** A first line that may continue past blank lines: an opener with a date and time, as clients write it. */
function mayOpenGappedAttribution(first: string): boolean {
  return mayStartWrappedAttribution(first) && /\d{1,2}[:.]\d{2}/.test(first) && /\d{4}/.test(first);
}

/** An Outlook-style block of header fields ("From:/Sent:/To:/Subject:", localised) starting at i. */
function isHeaderBlockAt(lines: readonly string[], i: number): boolean {
  const start = lines[i] ?? '';
  if (start === '' || headerField(start) === null) return false;
  const kinds = new Set<string>();
  let fields = 0;
  for (let j = i; j < lines.length && j < i + 12; j++) {
    const kind = headerField(lines[j] ?? '');
    if (kind) { kinds.add(kind); fields++; continue; }
    // A long To: list wrapped onto a second line still belongs to the block.
    if (lines[j] !== '' && headerField(lines[j + 1] ?? '') && headerField(lines[j - 1] ?? '')) continue;
    break;
  }
  if (fields >= 2 && kinds.has('from')) return true;
  if (fields >= 3 && kinds.has('sent') && (kinds.has('subject') || kinds.has('to'))) return true;
  return isAddressedFromLine(lines[i] ?? '');
}

function nextNonBlank(N: readonly string[], i: number): number {
  let j = i;
  while (j < N.length && N[j] === '') j++;
  return j;
}

/** A boundary that ends new content outright: everything from here on is history. */
function isCutAt(lines: readonly string[], i: number): boolean {
  const line = lines[i] ?? '';
  if (line === '') return false;
  if (line === QUOTE_MARK || isOriginalMessageLine(line)) return true;
  if (isBareOriginalMessageLine(line)) {
    const j = nextNonBlank(lines, i + 1);
    return j <= i + 2 && headerField(lines[j] ?? '') !== null;
  }
  if (isRuleLine(line)) {
    const j = nextNonBlank(lines, i + 1);
    return j <= i + 3 && j < lines.length && isHeaderBlockAt(lines, j);
  }
  if (!isHeaderBlockAt(lines, i)) return false;
  // "We got this bounce:" followed by pasted headers is the customer showing us something.
  let p = i - 1;
  while (p >= 0 && lines[p] === '') p--;
  const intro = lines[p] ?? '';
  return !(intro.endsWith(':') && headerField(intro) === null && attributionStrength(intro) === null);
}

function unquote(line: string): string {
  let i = 0;
  while (i < line.length && (line[i] === '>' || line[i] === ' ')) i++;
  return line.slice(i);
}

/** A segment that is only a signature or footer: it starts with a signature marker. */
function isSignatureOnly(N: readonly string[], from: number, to: number): boolean {
  const j = nextNonBlank(N, from);
  if (j >= to) return true;
  const line = N[j] ?? '';
  let count = 0;
  for (let k = j; k < to; k++) if (N[k] !== '') count++;
  if (count > 30) return false;
  return line === SIGNATURE_MARK || isSignatureDelimiter(line) || isRuleLine(line) || isMobileSignature(line);
}

/**
 * The text above the first quote is only a salutation: one short line ("Hi,", "Hello Anna!").
 * Anything longer is an answer in its own right, and the quote below it is context for more answers.
 */
function isGreeting(N: readonly string[], q: number): boolean {
  let seen = '';
  for (let i = 0; i < q; i++) {
    const line = N[i] ?? '';
    if (line === '') continue;
    if (seen !== '') return false;
    seen = line;
  }
  const end = seen[seen.length - 1];
  return seen.length <= 40 && (end === ',' || end === '!') && seen.split(' ').length <= 4;
}

/** Only spaces and invisible characters (see norm), with at least one of the latter. */
const INVISIBLE_ONLY = /^(?:\s|[\u00ad\u061c\u115f\u180e\u2000-\u200f\u202a-\u202f\u2060-\u2064\u3164\ufeff\uffa0\ufffc]|\u034f|\u1160|\u17b4|\u17b5)+$/;

function render(lines: readonly string[]): string {
  const kept: string[] = [];
  for (const l of lines) {
    if (l === QUOTE_MARK || l === SIGNATURE_MARK) continue;
    // A line of only invisible or tracker characters reads as blank and is one.
    if (l.trim() !== '' && INVISIBLE_ONLY.test(l)) {
      if (kept.at(-1) !== '') kept.push('');
      continue;
    }
    kept.push(trimEndChars(l, ' \t\u00a0\r'));
  }
  let a = 0;
  let b = kept.length;
  while (a < b && norm(kept[a] ?? '') === '') a++;
  while (b > a && norm(kept[b - 1] ?? '') === '') b--;
  return (a === 0 && b === kept.length ? kept : kept.slice(a, b)).join('\n');
}

function joinParts(parts: string[]): string {
  return parts.filter((p) => p !== '').join('\n\n');
}

/** Visible lines [from, to) with the signature cut off. */
function withoutSignature(lines: readonly string[], N: readonly string[], from: number, to: number, opts: SignatureOptions) {
  const s = findSignatureStart(N, from, to, opts);
  if (s < 0) return { visible: render(lines.slice(from, to)), signature: null as string | null };
  const sig = render(lines.slice(s, to));
  return { visible: render(lines.slice(from, s)), signature: sig === '' ? null : sig };
}

export function splitReply(lines: readonly string[], opts: SignatureOptions): ReplySplit {
  const N = lines.map(norm);
  const m = findReplyMarker(N);
  if (m >= 0) return atMarker(lines, N, m, opts);
  return neverEmpty(lines, N, splitCore(lines, N, opts), opts, true);
}

/**
 * Our reply marker survived the client's quoting: what stands above it is the reply, with the
 * attribution or header block the client put above our quoted mail removed by the usual
 * recognisers (the marker line is handed to them as a quoted line, so even a bare "X wrote:" goes).
 */
function atMarker(lines: readonly string[], N: readonly string[], m: number, opts: SignatureOptions): ReplySplit {
  const placeholder = '> ' + REPLY_MARKER;
  // The paragraph right above the marker is the client's attribution when it says "wrote" in
  // some form, even in shapes the recognisers would not trust on their own ("Support wrote on Monday").
  let top = m;
  while (top > 0 && N[top - 1] === '') top--;
  let start = top;
  while (start > 0 && N[start - 1] !== '' && top - start < 3) start--;
  if (start < top && (start === 0 || N[start - 1] === '') && mentionsWrote(N.slice(start, top).join(' '))) top = start;
  else top = m;
  const r = splitCore([...lines.slice(0, top), placeholder], [...N.slice(0, top), placeholder], opts);
  if (r.visible !== '') {
    const removedHead = r.removed.endsWith(placeholder) ? r.removed.slice(0, -placeholder.length).trimEnd() : r.removed;
    return { quoteFound: true, visible: r.visible, signature: r.signature, removed: joinParts([removedHead, render(lines.slice(top))]) };
  }
  // Nothing above the marker: an answer written below our quoted mail, or nothing new at all. Our
  // own mail quoted back is never the sender's text, so there is no fall back to the quote here.
  const below = neverEmpty(lines, N, splitCore(lines, N, opts), opts, false);
  if (below.visible !== '' && findReplyMarker(below.visible.split('\n').map(norm)) < 0) return below;
  return { quoteFound: true, visible: '', signature: null, removed: render(lines) };
}

/**
 * Never empty when the sender wrote something: a body that opens with a reply header or header
 * block and answers below the `>` quote is bottom-posted; when nothing but quote is left, the quote
 * itself (when `quoteFallback`) is better than nothing.
 */
function neverEmpty(lines: readonly string[], N: readonly string[], r: ReplySplit, opts: SignatureOptions, quoteFallback: boolean): ReplySplit {
  if (r.visible !== '' || !r.quoteFound) return r;
  let q = 0;
  while (q < N.length && !isQuoted(N[q] ?? '')) q++;
  // Only `>`-quoted history counts as "the quote" here: a body that is a bare header block over
  // unquoted text (a forward's remains, our own mail pasted back) stays empty, as before.
  if (q >= N.length) return r;
  const blank = (l: string, i: number): string => (i < q ? '' : l);
  const below = structured(lines.map(blank), N.map(blank), q, opts);
  if (below.visible !== '') return { ...below, removed: joinParts([render(lines.slice(0, q)), below.removed]) };
  if (!quoteFallback) return r;
  const all = render(lines);
  return all === '' ? r : { quoteFound: true, visible: all, signature: null, removed: '' };
}

function splitCore(lines: readonly string[], N: readonly string[], opts: SignatureOptions): ReplySplit {
  const n = lines.length;
  // 1. The first boundary, top-down.
  let quoteStart = -1;
  for (let i = 0; i < n; i++) {
    const line = N[i] ?? '';
    if (line === '') continue;
    if (isForwardMarker(line) || (isQuoted(line) && isForwardMarker(unquote(line)))) break; // a forward is new content
    if (isQuoted(line)) { quoteStart = i; break; }
    const attr = attributionAt(N, i);
    if (attr) {
      const j = nextNonBlank(N, attr.end);
      if (j < n && isQuoted(N[j] ?? '')) { quoteStart = i; break; }
      if (attr.strength === 'strong') return cut(lines, N, i, opts);
    }
    if (isCutAt(N, i)) return cut(lines, N, i, opts);
    if (isMobileSignature(line) && i > nextNonBlank(N, 0)) {
      const top = withoutSignature(lines, N, 0, i, opts);
      const mobile = render([lines[i] ?? '']);
      const signature = top.signature ? top.signature + '\n' + mobile : mobile;
      return { quoteFound: true, visible: top.visible, signature, removed: joinParts([top.signature ?? '', render(lines.slice(i))]) };
    }
  }
  if (quoteStart < 0) {
    const all = withoutSignature(lines, N, 0, n, opts);
    return { quoteFound: false, visible: all.visible, signature: all.signature, removed: all.signature ?? '' };
  }
  return structured(lines, N, quoteStart, opts);
}

/** Everything from line c on is history. */
function cut(lines: readonly string[], N: readonly string[], c: number, opts: SignatureOptions): ReplySplit {
  const top = withoutSignature(lines, N, 0, c, opts);
  return {
    quoteFound: true, visible: top.visible, signature: top.signature,
    removed: joinParts([top.signature ?? '', render(lines.slice(c))]),
  };
}

type Kind = 'text' | 'quote' | 'header' | 'blank';

/** The lines from the first quote on hold `>` quotes, attribution headers and maybe new text. */
function structured(lines: readonly string[], N: readonly string[], q: number, opts: SignatureOptions): ReplySplit {
  let n = lines.length;
  const kinds: Kind[] = new Array<Kind>(n).fill('text');
  for (let i = 0; i < q; i++) kinds[i] = N[i] === '' ? 'blank' : 'text';
  let cutAt = -1;
  for (let i = q; i < n; i++) {
    const line = N[i] ?? '';
    if (line === '') { kinds[i] = 'blank'; continue; }
    if (isQuoted(line)) { kinds[i] = 'quote'; continue; }
    const attr = attributionAt(N, i);
    if (attr) {
      const j = nextNonBlank(N, attr.end);
      if (j < n && isQuoted(N[j] ?? '')) {
        for (let k = i; k < attr.end; k++) kinds[k] = 'header';
        i = attr.end - 1;
        continue;
      }
      if (attr.strength === 'strong') { cutAt = i; break; }
    }
    if (isCutAt(N, i)) { cutAt = i; break; }
    kinds[i] = 'text';
  }
  if (cutAt >= 0) n = cutAt;
  // Lines a client wrapped inside a quote without re-adding ">" sit between quoted lines.
  for (let i = q; i < n; i++) {
    if (kinds[i] !== 'text' || kinds[i - 1] !== 'quote') continue;
    let j = i;
    while (j < n && kinds[j] === 'text' && j - i < 3) j++;
    if (j < n && kinds[j] === 'quote') for (let k = i; k < j; k++) kinds[k] = 'quote';
    i = j - 1;
  }
  // Runs of new text after the first quote, each [start, end) with blank edges trimmed.
  const segments: Array<[number, number]> = [];
  let firstQuote = q;
  while (firstQuote < n && kinds[firstQuote] !== 'quote') firstQuote++;
  for (let i = firstQuote; i < n; i++) {
    if (kinds[i] !== 'text') continue;
    let j = i;
    while (j < n && (kinds[j] === 'text' || kinds[j] === 'blank')) j++;
    let end = j;
    while (end > i && kinds[end - 1] === 'blank') end--;
    segments.push([i, end]);
    i = j - 1;
  }
  let trailingSignature: [number, number] | null = null;
  const lastSeg = segments.at(-1);
  if (lastSeg && isSignatureOnly(N, lastSeg[0], lastSeg[1])) {
    trailingSignature = lastSeg;
    segments.pop();
  }
  let hasBefore = false;
  for (let i = 0; i < q; i++) if (kinds[i] === 'text') hasBefore = true;

  const tail = render(lines.slice(n));
  if (segments.length === 0) {
    // Top-posted: new text above the quote.
    const top = withoutSignature(lines, N, 0, q, opts);
    const signature = top.signature ?? (trailingSignature ? render(lines.slice(trailingSignature[0], trailingSignature[1])) : null);
    return {
      quoteFound: true, visible: top.visible, signature,
      removed: joinParts([top.signature ?? '', render(lines.slice(q, n)), tail]),
    };
  }
  const only = segments[0];
  if (segments.length === 1 && only && (!hasBefore || isGreeting(N, q))) {
    // Bottom-posted: the quote (with its attribution) above, the answer below; a greeting typed
    // above the quote ("Hi,") stays in front of the answer.
    const answer = withoutSignature(lines, N, only[0], only[1], opts);
    const greeting = hasBefore ? render(lines.slice(0, q)) : '';
    return {
      quoteFound: true, visible: greeting ? greeting + '\n' + answer.visible : answer.visible, signature: answer.signature,
      removed: joinParts([render(lines.slice(hasBefore ? q : 0, only[0])), answer.signature ?? '', render(lines.slice(only[1], n)), tail]),
    };
  }
  // Inline: answers interleaved with the quotes they answer; the quotes stay as their context.
  const last = segments.at(-1) ?? [q, q];
  const sigStart = findSignatureStart(N, last[0], last[1], opts);
  const end = sigStart > last[0] ? sigStart : last[1];
  const signature = sigStart > last[0] ? render(lines.slice(sigStart, last[1]))
    : trailingSignature ? render(lines.slice(trailingSignature[0], trailingSignature[1])) : null;
  return {
    quoteFound: true, visible: render(lines.slice(0, end)), signature: signature === '' ? null : signature,
    removed: joinParts([sigStart > last[0] ? signature ?? '' : '', render(lines.slice(last[1], n)), tail]),
  };
}
