// Turning bytes in a declared (often wrong) charset into a string. Owns the mislabelled-charset
// rule: non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says, because real
// legacy-charset text almost never happens to be valid UTF-8, while mislabelled UTF-8 is common.
// Pure: no I/O. The built-in WHATWG TextDecoder does the charsets mail actually uses; iconv-lite
// (rarer charsets, and a second opinion when TextDecoder meets bytes it cannot map) and libmime
// (lenient ISO-2022-JP) are loaded only on first need, so `casemail inspect` starts without them.
import { isAscii, isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';

type Iconv = { decode(buf: Buffer, encoding: string): string; encodingExists(encoding: string): boolean };
type LibmimeCharset = { decode(buf: Buffer, charset: string): string };
const requireLazy = createRequire(import.meta.url);
let iconvModule: Iconv | null = null;
let libmimeModule: LibmimeCharset | null = null;
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
 * True when text labelled UTF-8 holds at least one well-formed multibyte sequence: damaged UTF-8
 * (corrupt bytes) rather than a legacy charset, whose text practically never forms one.
 */
function mostlyUtf8(buf: Buffer): boolean {
  let good = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 0x80) continue;
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    let ok = n > 0 && i + n < buf.length + 0;
    for (let k = 1; ok && k <= n; k++) ok = (buf[i + k]! & 0xc0) === 0x80;
    if (ok) {
      good++;
      i += n;
    }
  }
  return good > 0;
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
    if (mostlyUtf8(buf)) return { text: buf.toString('utf8'), used: 'utf8', warning: 'UTF-8 text has invalid bytes; replaced' };
    return { text: decodeNamed(buf, fallback), used: fallback, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${fallback}` };
  }
  if (high && !NO_SNIFF.test(norm) && isValidUtf8(buf)) {
    return { text: buf.toString('utf8'), used: 'utf8', warning: `text labelled ${label} is valid UTF-8; read as UTF-8` };
  }
  if (JAPANESE.test(norm)) {
    const text = decodeNamed(buf, 'iso2022jp');
    return { text: text.includes('\ufffd') ? libmime().decode(buf, 'ISO-2022-JP') : text, used: norm, warning: null };
  }
  const name = ALIASES[norm] ?? norm;
  if (charsetKnown(name)) return { text: decodeNamed(buf, name), used: name, warning: null };
  if (!high) return { text: buf.toString('latin1'), used: 'ascii', warning: null };
  return { text: decodeNamed(buf, fallback), used: fallback, warning: `unknown charset ${label}; read as ${fallback}` };
}
