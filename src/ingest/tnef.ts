// TNEF (winmail.dat, application/ms-tnef) decoding, written from MS-OXTNEF: the attribute stream,
// the MAPI property lists inside it, attachments and the message body (plain, HTML, or compressed
// RTF, decompressed per MS-OXRTFCP). Pure: bytes in, plain data out; never throws on bad input.
import { charsetKnown, decodeNamed, normalizeCharset } from './charset-decode.js';

export interface TnefAttachment {
  filename: string | null;
  contentType: string | null;
  contentId: string | null;
  content: Buffer;
}

export interface TnefResult {
  /** False when the bytes are not a TNEF stream at all. */
  ok: boolean;
  bodyType: 'rtf' | 'html' | 'text' | null;
  text: string | null;
  html: string | null;
  rtf: Buffer | null;
  messageId: string | null;
  attachments: TnefAttachment[];
  warnings: string[];
}

const TNEF_SIGNATURE = 0x223e9f78;
const LVL_MESSAGE = 1;
const LVL_ATTACHMENT = 2;

// Attribute ids (low 16 bits of the attribute tag; the high bits carry the type).
const ATT_BODY = 0x800c;
const ATT_MESSAGE_ID = 0x8009;
const ATT_ATTACH_DATA = 0x800f;
const ATT_ATTACH_TITLE = 0x8010;
const ATT_ATTACH_RENDDATA = 0x9002;
const ATT_MSG_PROPS = 0x9003;
const ATT_ATTACHMENT = 0x9005;
const ATT_OEM_CODEPAGE = 0x9007;

// MAPI property types.
const PT_I2 = 0x0002;
const PT_LONG = 0x0003;
const PT_R4 = 0x0004;
const PT_DOUBLE = 0x0005;
const PT_CURRENCY = 0x0006;
const PT_APPTIME = 0x0007;
const PT_ERROR = 0x000a;
const PT_BOOLEAN = 0x000b;
const PT_OBJECT = 0x000d;
const PT_I8 = 0x0014;
const PT_STRING8 = 0x001e;
const PT_UNICODE = 0x001f;
const PT_SYSTIME = 0x0040;
const PT_CLSID = 0x0048;
const PT_BINARY = 0x0102;
const MV_FLAG = 0x1000;

// MAPI property ids used here.
const PR_BODY = 0x1000;
const PR_RTF_COMPRESSED = 0x1009;
const PR_BODY_HTML = 0x1013;
const PR_INTERNET_MESSAGE_ID = 0x1035;
const PR_DISPLAY_NAME = 0x3001;
const PR_ATTACH_DATA = 0x3701;
const PR_ATTACH_FILENAME = 0x3704;
const PR_ATTACH_METHOD = 0x3705;
const PR_ATTACH_LONG_FILENAME = 0x3707;
const PR_ATTACH_MIME_TAG = 0x370e;
const PR_ATTACH_CONTENT_ID = 0x3712;

const ATTACH_EMBEDDED_MSG = 5;

interface MapiProp {
  id: number;
  type: number;
  /** Named properties (id >= 0x8000) are not needed here, only skipped correctly. */
  named: boolean;
  values: Array<Buffer | number | string>;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  left(): number {
    return this.buf.length - this.pos;
  }
  u8(): number {
    if (this.left() < 1) throw new RangeError('truncated');
    return this.buf[this.pos++]!;
  }
  u16(): number {
    if (this.left() < 2) throw new RangeError('truncated');
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (this.left() < 4) throw new RangeError('truncated');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.left() < n) throw new RangeError('truncated');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  align4(n: number): void {
    const pad = (4 - (n % 4)) % 4;
    this.pos = Math.min(this.buf.length, this.pos + pad);
  }
}

function fixedSize(type: number): number {
  switch (type) {
    case PT_I2:
    case PT_LONG:
    case PT_R4:
    case PT_ERROR:
    case PT_BOOLEAN:
      return 4; // values are padded to 4 bytes in TNEF
    case PT_DOUBLE:
    case PT_CURRENCY:
    case PT_APPTIME:
    case PT_I8:
    case PT_SYSTIME:
      return 8;
    case PT_CLSID:
      return 16;
    default:
      return -1;
  }
}

/** 8-bit TNEF strings in the stream's OEM codepage (windows-1252 when it is unknown). */
function decodeCodepage(buf: Buffer, codepage: string): string {
  const name = normalizeCharset(codepage);
  if (name === 'utf8') return buf.toString('utf8');
  if (name === 'latin1' || name === 'ascii') return buf.toString('latin1');
  return decodeNamed(buf, charsetKnown(name) ? name : 'windows1252');
}

function stringOf(buf: Buffer, type: number, codepage: string): string {
  if (type === PT_UNICODE) return buf.toString('utf16le').replace(/\0+$/, '');
  const end = buf.indexOf(0);
  return decodeCodepage(end >= 0 ? buf.subarray(0, end) : buf, codepage);
}

/** Reads a MAPI property list (attMsgProps / attAttachment payload). */
function readProps(data: Buffer): MapiProp[] {
  const r = new Reader(data);
  const props: MapiProp[] = [];
  const count = r.u32();
  for (let n = 0; n < count && r.left() >= 4; n++) {
    const type = r.u16();
    const id = r.u16();
    const named = id >= 0x8000;
    if (named) {
      r.bytes(16); // property set GUID
      const kind = r.u32();
      if (kind === 0) r.u32();
      else {
        const len = r.u32();
        r.bytes(len);
        r.align4(len);
      }
    }
    const base = type & ~MV_FLAG;
    const multi = (type & MV_FLAG) !== 0;
    const values: Array<Buffer | number | string> = [];
    const size = fixedSize(base);
    if (size > 0 && !multi) {
      const b = r.bytes(size);
      values.push(size === 4 ? b.readInt32LE(0) : b);
    } else if (size > 0) {
      const k = r.u32();
      for (let i = 0; i < k; i++) values.push(r.bytes(size));
    } else if (base === PT_STRING8 || base === PT_UNICODE || base === PT_BINARY || base === PT_OBJECT) {
      const k = r.u32();
      for (let i = 0; i < k; i++) {
        const len = r.u32();
        values.push(r.bytes(len));
        r.align4(len);
      }
    } else {
      // An unknown type has an unknown size: nothing after it can be read reliably.
      break;
    }
    props.push({ id, type: base, named, values });
  }
  return props;
}

const IID_IMESSAGE = Buffer.from('0703020000000000c000000000000046', 'hex');

// ---- compressed RTF (MS-OXRTFCP) ----

const RTF_PREBUF = '{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx';
const COMP_LZFU = 0x75465a4c;
const COMP_MELA = 0x414c454d;

/** Decompresses PR_RTF_COMPRESSED. Returns null when the header is not a known format. */
export function decompressRtf(data: Buffer): Buffer | null {
  if (data.length < 16) return null;
  const compSize = data.readUInt32LE(0);
  const rawSize = data.readUInt32LE(4);
  const compType = data.readUInt32LE(8);
  const end = Math.min(data.length, 4 + compSize);
  if (compType === COMP_MELA) return Buffer.from(data.subarray(16, Math.min(16 + rawSize, data.length)));
  if (compType !== COMP_LZFU) return null;
  const dict = Buffer.alloc(4096);
  dict.write(RTF_PREBUF, 'latin1');
  let w = RTF_PREBUF.length;
  const out = Buffer.alloc(rawSize);
  let o = 0;
  let i = 16;
  while (i < end && o < rawSize) {
    const control = data[i++]!;
    for (let bit = 0; bit < 8 && i < end && o < rawSize; bit++) {
      if ((control & (1 << bit)) === 0) {
        const c = data[i++]!;
        out[o++] = c;
        dict[w] = c;
        w = (w + 1) & 4095;
        continue;
      }
      if (i + 1 >= end) {
        i = end;
        break;
      }
      const ref = (data[i]! << 8) | data[i + 1]!;
      i += 2;
      const offset = ref >> 4;
      const len = (ref & 15) + 2;
      if (offset === w) return out.subarray(0, o); // the end marker
      for (let k = 0; k < len && o < rawSize; k++) {
        const c = dict[(offset + k) & 4095]!;
        out[o++] = c;
        dict[w] = c;
        w = (w + 1) & 4095;
      }
    }
  }
  return out.subarray(0, o);
}

// ---- the stream ----

interface AttachmentDraft {
  title: string | null;
  longName: string | null;
  shortName: string | null;
  displayName: string | null;
  mimeTag: string | null;
  contentId: string | null;
  data: Buffer | null;
  /** attAttachData, when the MAPI properties also carry the data. */
  legacyData: Buffer | null;
  method: number | null;
  embedded: Buffer | null;
}

function newDraft(): AttachmentDraft {
  return { title: null, longName: null, shortName: null, displayName: null, mimeTag: null, contentId: null, data: null, legacyData: null, method: null, embedded: null };
}

const CODEPAGES: Record<number, string> = { 65001: 'utf8', 20127: 'ascii', 28591: 'latin1', 20866: 'koi8-r', 21866: 'koi8-u' };

export function decodeTnef(buf: Buffer, depth = 0): TnefResult {
  const result: TnefResult = { ok: false, bodyType: null, text: null, html: null, rtf: null, messageId: null, attachments: [], warnings: [] };
  const r = new Reader(buf);
  try {
    if (r.u32() !== TNEF_SIGNATURE) {
      result.warnings.push('winmail.dat is not a TNEF stream');
      return result;
    }
    r.u16(); // legacy key
  } catch {
    result.warnings.push('winmail.dat is truncated');
    return result;
  }
  result.ok = true;
  let codepage = 'windows1252';
  const drafts: AttachmentDraft[] = [];
  let current: AttachmentDraft | null = null;
  let rtfRaw: Buffer | null = null;
  const applyMessageProps = (props: MapiProp[]): void => {
    for (const p of props) {
      if (p.named) continue;
      const v = p.values[0];
      if (!Buffer.isBuffer(v)) continue;
      if (p.id === PR_BODY && (p.type === PT_STRING8 || p.type === PT_UNICODE)) result.text = stringOf(v, p.type, codepage);
      else if (p.id === PR_BODY_HTML) result.html = p.type === PT_UNICODE ? stringOf(v, p.type, codepage) : v.toString('utf8').replace(/\0+$/, '');
      else if (p.id === PR_RTF_COMPRESSED && p.type === PT_BINARY) rtfRaw = v;
      else if (p.id === PR_INTERNET_MESSAGE_ID && (p.type === PT_STRING8 || p.type === PT_UNICODE)) result.messageId = stringOf(v, p.type, codepage);
    }
  };
  const applyAttachmentProps = (d: AttachmentDraft, props: MapiProp[]): void => {
    for (const p of props) {
      if (p.named) continue;
      const v = p.values[0];
      if (p.id === PR_ATTACH_METHOD && typeof v === 'number') d.method = v;
      if (!Buffer.isBuffer(v)) continue;
      const str = p.type === PT_STRING8 || p.type === PT_UNICODE ? stringOf(v, p.type, codepage) : null;
      if (p.id === PR_ATTACH_LONG_FILENAME && str) d.longName = str;
      else if (p.id === PR_ATTACH_FILENAME && str) d.shortName = str;
      else if (p.id === PR_DISPLAY_NAME && str) d.displayName = str;
      else if (p.id === PR_ATTACH_MIME_TAG && str) d.mimeTag = str;
      else if (p.id === PR_ATTACH_CONTENT_ID && str) d.contentId = str;
      else if (p.id === PR_ATTACH_DATA && (p.type === PT_BINARY || p.type === PT_OBJECT)) {
        // PT_OBJECT data starts with the interface id of the object it holds; the object is kept
        // whole (as Outlook and MimeKit hand it out), an embedded message is also unpacked below.
        d.data = v;
        if (p.type === PT_OBJECT && v.subarray(0, 16).equals(IID_IMESSAGE)) d.embedded = v.subarray(16);
      }
    }
  };
  while (r.left() > 0) {
    let level: number, tag: number, data: Buffer;
    try {
      level = r.u8();
      if (level !== LVL_MESSAGE && level !== LVL_ATTACHMENT) {
        result.warnings.push('TNEF stream has trailing data');
        break;
      }
      tag = r.u32();
      const len = r.u32();
      data = r.bytes(len);
      r.u16(); // checksum: a wrong one is no reason to drop the attachment
    } catch {
      result.warnings.push('TNEF stream is truncated');
      break;
    }
    const id = tag & 0xffff;
    try {
      if (level === LVL_MESSAGE) {
        if (id === ATT_OEM_CODEPAGE && data.length >= 4) codepage = CODEPAGES[data.readUInt32LE(0)] ?? `cp${data.readUInt32LE(0)}`;
        else if (id === ATT_MSG_PROPS) applyMessageProps(readProps(data));
        else if (id === ATT_BODY && result.text === null) result.text = decodeCodepage(data, codepage).replace(/\0+$/, '');
        else if (id === ATT_MESSAGE_ID && result.messageId === null) result.messageId = data.toString('latin1').replace(/\0+$/, '');
        continue;
      }
      if (id === ATT_ATTACH_RENDDATA) {
        current = newDraft();
        drafts.push(current);
        continue;
      }
      if (current === null) {
        current = newDraft();
        drafts.push(current);
      }
      if (id === ATT_ATTACH_TITLE) current.title = decodeCodepage(data, codepage).replace(/\0+$/, '');
      else if (id === ATT_ATTACH_DATA) current.legacyData = data;
      else if (id === ATT_ATTACHMENT) applyAttachmentProps(current, readProps(data));
    } catch (err) {
      result.warnings.push(`TNEF attribute 0x${tag.toString(16)} unreadable: ${(err as Error).message}`);
    }
  }
  if (rtfRaw) {
    const rtf = decompressRtf(rtfRaw);
    if (rtf) result.rtf = rtf;
    else result.warnings.push('TNEF compressed RTF in an unknown format');
  }
  result.bodyType = result.html !== null ? 'html' : result.rtf !== null ? 'rtf' : result.text !== null ? 'text' : null;
  for (const d of drafts) {
    const filename = d.longName ?? d.title ?? d.shortName ?? d.displayName;
    // attAttachData normally repeats the MAPI data. For an attached Outlook item it may repeat the
    // embedded item without its interface id: then the item is listed once. When it differs (a
    // placeholder stub Outlook writes for readers without MAPI) both are kept: MimeKit and the
    // upstream test folders list the stub too, and nothing the sender attached is lost.
    const listed = d.embedded ?? d.data;
    if (d.legacyData && listed && !d.legacyData.equals(listed) && !(d.data && d.legacyData.equals(d.data))) {
      result.attachments.push({ filename: filename ?? null, contentType: null, contentId: null, content: Buffer.from(d.legacyData) });
    }
    d.data ??= d.legacyData;
    if (d.data === null) continue;
    result.attachments.push({ filename: filename ?? null, contentType: d.mimeTag, contentId: d.contentId ? `<${d.contentId.replace(/^<|>$/g, '')}>` : null, content: Buffer.from(d.embedded ?? d.data) });
    const inner = d.embedded ?? (d.method === ATTACH_EMBEDDED_MSG ? d.data : null);
    if (inner && depth < 5 && inner.length > 6 && inner.readUInt32LE(0) === TNEF_SIGNATURE) {
      // An attached Outlook item: its own attachments are what the customer sent, so they are
      // listed too, after the item itself.
      result.attachments.push(...decodeTnef(inner, depth + 1).attachments);
    }
  }
  return result;
}
