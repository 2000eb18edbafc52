// Turning bytes in a declared (often wrong) charset into a string. Owns the mislabelled-charset
// rule: non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says, because real
// legacy-charset text almost never happens to be valid UTF-8, while mislabelled UTF-8 is common.
// Pure: no I/O. The built-in WHATWG TextDecoder does the charsets mail actually uses; iconv-lite
// (rarer charsets, and a second opinion when TextDecoder meets bytes it cannot map), libmime
// (lenient ISO-2022-JP) and jschardet (guessing the multibyte charset of unlabelled 8-bit text)
// are loaded only on first need, so `casemail inspect` starts without them.
import { isAscii, isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';

type Iconv = { decode(buf: Buffer, encoding: string): string; encodingExists(encoding: string): boolean };
type LibmimeCharset = { decode(buf: Buffer, charset: string): string };
const requireLazy = createRequire(import.meta.url);
let iconvModule: Iconv | null = null;
let libmimeModule: LibmimeCharset | null = null;
type Jschardet = {
  chardet: { detectAll(bytes: Uint8Array, opts: { includeEncodings: string[]; ignoreThreshold: boolean }): Array<{ encoding: string | null; confidence: number }> };
};
let jschardetModule: Jschardet | null = null;
function jschardet(): Jschardet {
  return (jschardetModule ??= requireLazy('jschardet') as Jschardet);
}
function iconv(): Iconv {
  return (iconvModule ??= requireLazy('iconv-lite') as Iconv);
}
function libmime(): LibmimeCharset {
  return (libmimeModule ??= requireLazy('libmime/lib/charset.js') as LibmimeCharset);
}

/** Normalised charset names (see normalizeCharset) the built-in TextDecoder reads, with its label. */
const WHATWG: Record<string, string> = {
  ibm866: 'ibm866', cp866: 'ibm866', koi8r: 'koi8-r', koi8u: 'koi8-u', macintosh: 'macintosh', maccyrillic: 'x-mac-cyrillic',
  windows874: 'windows-874', cp874: 'windows-874', gbk: 'gbk', cp936: 'gbk', gb18030: 'gb18030', big5: 'big5', cp950: 'big5',
  eucjp: 'euc-jp', shiftjis: 'shift_jis', cp932: 'shift_jis', cp949: 'euc-kr', iso2022jp: 'iso-2022-jp',
};
for (const n of [2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16]) WHATWG[`iso8859${n}`] = `iso-8859-${n}`;
for (let n = 1250; n <= 1258; n++) {
  WHATWG[`windows${n}`] = `windows-${n}`;
  WHATWG[`cp${n}`] = `windows-${n}`;
}
const C1_CONTROL = /[\u0080-\u009f]/;
const C1_CONTROL_ALL = /[\u0080-\u009f]/g;
const decoders = new Map<string, InstanceType<typeof TextDecoder>>();

/**
 * Bytes in charset `name` (normalised) as text. TextDecoder when it knows the charset and every
 * byte maps; otherwise iconv-lite, whose tables are more forgiving for some legacy charsets.
 */
export function decodeNamed(buf: Buffer, name: string): string {
  const label = WHATWG[name];
  if (label) {
    let d = decoders.get(label);
    if (!d) decoders.set(label, (d = new TextDecoder(label)));
    let text = d.decode(buf);
    // The few bytes a windows-125x code page leaves undefined come out as C1 controls here;
    // they are not text, and show as U+FFFD like any other byte that does not map.
    if (label.startsWith('windows-') && C1_CONTROL.test(text)) text = text.replace(C1_CONTROL_ALL, '\ufffd');
    if (!text.includes('\ufffd') || !iconv().encodingExists(name)) return text;
  }
  return iconv().decode(buf, name);
}

/** Whether `name` (normalised) is a charset decodeNamed can read. */
export function charsetKnown(name: string): boolean {
  return name in WHATWG || iconv().encodingExists(name);
}

const UTF8_LABELS = new Set(['', 'utf8', 'usascii', 'ascii', '7bit', '8bit', 'utf8mb4', 'ansix341968', 'us', 'default', 'unicode11utf8']);
// Labels whose bytes legitimately never are, or must not be guessed as, UTF-8.
const NO_SNIFF = /^(utf16|utf32|ucs2|ucs4|unicode$|utf7|unicode11utf7|csunicode11utf7)/;
const JAPANESE = /^(iso2022jp|jis|csiso2022jp)/;
// Names mail clients use that iconv-lite does not know under that spelling.
const ALIASES: Record<string, string> = {
  ksc56011987: 'cp949',
  ksc5601: 'cp949',
  ksc56011989: 'cp949',
  euckr: 'cp949',
  xgbk: 'gbk',
  gb2312: 'gbk', // GBK is a superset; senders labelling GBK text gb2312 is routine
  gb231280: 'gbk',
  cngb: 'gbk',
  big5hkscs: 'big5hkscs',
  xbig5: 'big5',
  cnbig5: 'big5',
  xsjis: 'shiftjis',
  sjis: 'shiftjis',
  mskanji: 'shiftjis',
  xeucjp: 'eucjp',
  iso88591: 'windows1252', // what every browser and mail client actually means
  latin1: 'windows1252',
  usascii: 'utf8',
  xmaccyrillic: 'maccyrillic',
  xmacroman: 'macintosh',
  iso88598i: 'iso88598',
  iso88596i: 'iso88596',
  tis620: 'windows874',
  ansi: 'windows1252',
  xunknown: 'windows1252',
  unknown8bit: 'windows1252',
  xuserdefined: 'windows1252',
};

/** Lower-cased, punctuation-free charset label ("ISO_8859-1" -> "iso88591"). */
export function normalizeCharset(label: string | null | undefined): string {
  return String(label ?? '').toLowerCase().replace(/^["']|["']$/g, '').replace(/[^a-z0-9]/g, '');
}

/** True when the buffer has a byte >= 0x80. */
export function hasHighBytes(buf: Buffer): boolean {
  return !isAscii(buf);
}

/** Strict UTF-8 validity (no overlongs, no surrogates), as the WHATWG decoder in fatal mode judges. */
export function isValidUtf8(buf: Buffer): boolean {
  return isUtf8(buf);
}

/**
 * Well-formed multibyte sequences and stray high bytes in text labelled UTF-8. Damaged UTF-8 has
 * good ones; legacy single-byte text practically never forms one, and legacy multibyte text
 * (Shift_JIS, GBK) forms the odd valid pair by chance but never mostly.
 */
function utf8Evidence(buf: Buffer): { good: number; bad: number } {
  let good = 0;
  let bad = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 0x80) continue;
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    let ok = n > 0 && i + n < buf.length + 0;
    for (let k = 1; ok && k <= n; k++) ok = (buf[i + k]! & 0xc0) === 0x80;
    if (ok) {
      good++;
      i += n;
    } else bad++;
  }
  return { good, bad };
}

/** The multibyte charsets guessed for unlabelled 8-bit text, as jschardet names them -> our names. */
const MULTIBYTE_GUESSES: Record<string, string> = { SHIFT_JIS: 'shiftjis', CP932: 'shiftjis', 'EUC-JP': 'eucjp', GB2312: 'gb18030', GB18030: 'gb18030', Big5: 'big5' };
/**
 * The detector's candidates: the four multibyte families, plus windows-1252 as its "none of
 * these" answer (we then fall back ourselves). Every single-byte code page stays out: on a short
 * subject they all score alike and the detector's pick among them is noise.
 */
const DETECTOR_CANDIDATES = ['shift_jis', 'cp932', 'euc-jp', 'gb18030', 'big5', 'cp1252'];
/**
 * Below this jschardet confidence a guess is not taken. Restricted to the four multibyte
 * candidates, two-character CJK strings score about 0.010-0.015, while Latin-1 words that happen to
 * form valid multibyte pairs ("ÀÉÎÕÜ") score under 0.009 or nothing; the strict decode and the
 * CJK-letter check below do the rest of the work.
 */
export const MULTIBYTE_MIN_CONFIDENCE = 0.01;
/** Only so much text is given to the detector: a header or the head of a body decides it. */
const DETECT_BYTES = 8192;
const CJK_LETTER = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]/;
const NOT_TEXT = /[\u0080-\u009f\ue000-\uf8ff\ufffd]/;
// A CJK character glued between two Latin letters is a Latin-1 accent misread ("Fr" + 0xF6 0x73 +
// "che"): real CJK text does not sit inside a Latin word.
const INSIDE_LATIN_WORD = /[A-Za-z][\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f][A-Za-z]/;

/** Decoded text that can be CJK: has CJK letters, nothing unprintable, none inside a Latin word. */
function plausibleCjk(text: string): boolean {
  return CJK_LETTER.test(text) && !NOT_TEXT.test(text) && !INSIDE_LATIN_WORD.test(text);
}

/**
 * 8-bit text that is not UTF-8 and has no usable label: the multibyte charset it decodes in,
 * or null. Only GB18030, Shift_JIS, EUC-JP and Big5 are candidates (a detector guessing among
 * every single-byte code page on a short subject is noise); a guess counts only when the bytes
 * decode in it without error and the result holds CJK letters.
 */
export function guessMultibyte(buf: Buffer): { text: string; used: string } | null {
  const sample = buf.length > DETECT_BYTES ? buf.subarray(0, DETECT_BYTES) : buf;
  // The detector's first use costs 100-300 ms (it inflates its models), so it is asked only when
  // some candidate reads the bytes as plausible CJK text; "Frösche" in Latin-1 never wakes it.
  const plausible = new Map<string, string>();
  for (const name of new Set(Object.values(MULTIBYTE_GUESSES))) {
    const text = decodeStrict(buf, name);
    if (text !== null && plausibleCjk(text)) plausible.set(name, text);
  }
  if (plausible.size === 0) return null;
  let guesses: Array<{ encoding: string | null; confidence: number }>;
  try {
    guesses = jschardet().chardet.detectAll(sample, { includeEncodings: DETECTOR_CANDIDATES, ignoreThreshold: true });
  } catch {
    return null;
  }
  for (const g of guesses) {
    const name = g.encoding ? MULTIBYTE_GUESSES[g.encoding] : undefined;
    if (!name || g.confidence < MULTIBYTE_MIN_CONFIDENCE) continue;
    const text = plausible.get(name);
    if (text !== undefined) return { text, used: name };
  }
  return null;
}

/** Bytes in a multibyte charset, or null when any byte sequence is invalid in it. */
function decodeStrict(buf: Buffer, name: string): string | null {
  const label = WHATWG[name] ?? (name === 'shiftjis' ? 'shift_jis' : name);
  try {
    return new TextDecoder(label, { fatal: true }).decode(buf);
  } catch {
    return null;
  }
}

/** 8-bit bytes with no trustworthy label (UTF-8 already ruled out): a multibyte guess, else `fallback`. */
function decodeUnlabelled(buf: Buffer, label: string | null | undefined, fallback: string): DecodeResult {
  const guess = guessMultibyte(buf);
  if (guess) return { text: guess.text, used: guess.used, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${guess.used} (detected)` };
  return { text: decodeNamed(buf, fallback), used: fallback, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${fallback}` };
}

export interface DecodeResult {
  text: string;
  /** The charset actually used, normalised. */
  used: string;
  /** Set when the label was ignored or unknown. */
  warning: string | null;
}

/**
 * Decodes bytes labelled `label`. Unlabelled or unknown 8-bit text that is not UTF-8 is read as
 * windows-1252 (`fallback`), the most common unlabelled legacy charset in mail.
 */
export function decodeCharset(buf: Buffer, label: string | null | undefined, fallback = 'windows1252'): DecodeResult {
  const norm = normalizeCharset(label);
  const high = hasHighBytes(buf);
  if (UTF8_LABELS.has(norm)) {
    if (!high || isValidUtf8(buf)) return { text: buf.toString('utf8'), used: 'utf8', warning: null };
    const damaged = { text: buf.toString('utf8'), used: 'utf8', warning: 'UTF-8 text has invalid bytes; replaced' };
    const { good, bad } = utf8Evidence(buf);
    if (good > bad) return damaged;
    // A 7-bit (or UTF-8) label over bytes that are not UTF-8 is a mislabel: a multibyte charset
    // the detector names and the bytes decode in; else UTF-8 with some damage; else `fallback`.
    const guess = guessMultibyte(buf);
    if (guess) return { text: guess.text, used: guess.used, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${guess.used} (detected)` };
    if (good > 0) return damaged;
    return { text: decodeNamed(buf, fallback), used: fallback, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${fallback}` };
  }
  if (high && !NO_SNIFF.test(norm) && isValidUtf8(buf)) {
    return { text: buf.toString('utf8'), used: 'utf8', warning: `text labelled ${label} is valid UTF-8; read as UTF-8` };
  }
  if (JAPANESE.test(norm)) {
    // ISO-2022-JP is 7-bit; 8-bit bytes under that label are in practice Shift_JIS.
    if (high) {
      const sjis = decodeStrict(buf, 'shiftjis');
      if (sjis !== null) return { text: sjis, used: 'shiftjis', warning: `8-bit text labelled ${label}; read as Shift_JIS` };
      return decodeUnlabelled(buf, label, fallback);
    }
    const text = decodeNamed(buf, 'iso2022jp');
    return { text: text.includes('\ufffd') ? libmime().decode(buf, 'ISO-2022-JP') : text, used: norm, warning: null };
  }
  const name = ALIASES[norm] ?? norm;
  if (charsetKnown(name)) return { text: decodeNamed(buf, name), used: name, warning: null };
  if (!high) return { text: buf.toString('latin1'), used: 'ascii', warning: null };
  return { text: decodeNamed(buf, fallback), used: fallback, warning: `unknown charset ${label}; read as ${fallback}` };
}
