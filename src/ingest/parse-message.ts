// Raw RFC 5322 bytes -> ParsedMessage (src/threading/parsed-message.ts): which parts are the
// body, which are attachments (with decoded size and md5), the TNEF unpacking, and the
// warnings for what had to be guessed. Never throws on bad input. No I/O beyond the Buffer.
import { createHash } from 'node:crypto';
import { decodeCharset, normalizeCharset } from './charset-decode.js';
import {
  decodeRawHeader,
  decodeUnstructured,
  decodeWords,
  parseAddressList,
  parseMailDate,
  parseMsgIds,
} from './parse-header.js';
import { decodeTransfer, decodeUuLines, parseMimePart, partHeader } from './parse-mime.js';
import type { MimeLimits, MimePart } from './parse-mime.js';
import { htmlToPlainText } from './parse-html-text.js';
import { decodeTnef } from './tnef.js';
import type { MailAddress, ParsedAttachment, ParsedMessage } from '../threading/parsed-message.js';

/** The MIME caps (settings.limits.maxMimeParts / maxMimeDepth), and TNEF unpacking. */
export interface ParseMessageOptions extends MimeLimits {
  /** Unpack application/ms-tnef parts (default true). */
  tnef?: boolean;
}

const ADDRESS_HEADERS = new Set(['from', 'to', 'cc', 'bcc', 'reply-to', 'sender', 'resent-from', 'resent-to', 'resent-cc', 'delivered-to', 'x-original-to', 'envelope-to', 'return-path', 'disposition-notification-to']);

interface Collected {
  text: string[];
  /** True when some text came from a text/plain part (not derived from HTML). */
  fromPlain: boolean;
  html: string[];
  attachments: ParsedAttachment[];
}

function md5(buf: Buffer): string {
  return createHash('md5').update(buf).digest('hex');
}

function partCharset(part: MimePart): string | null {
  return part.contentType.params.charset ?? null;
}

function filenameOf(part: MimePart, fallbackCharset: string | null): string | null {
  const name = part.disposition.params.filename ?? part.contentType.params.name ?? null;
  if (name === null || name.trim() === '') {
    if (part.transferEncoding.includes('uu')) {
      const m = /^begin\s+\d+\s+(.+)$/m.exec(part.body.toString('latin1'));
      if (m) return m[1]!.trim();
    }
    return null;
  }
  // Some clients send raw 8-bit names inside the parameter; decodeWords already ran on them.
  return decodeWords(decodeRawHeader(name, fallbackCharset)).trim();
}

function contentIdOf(part: MimePart): string | null {
  const raw = partHeader(part, 'content-id');
  if (raw === null) return null;
  const v = raw.trim();
  if (!v) return null;
  const m = /<([^>]*)>/.exec(v);
  return `<${(m ? m[1]! : v).trim()}>`;
}

function decodeText(bytes: Buffer, part: MimePart, warnings: string[], fallbackCharset: string | null): string {
  const label = partCharset(part) ?? (normalizeCharset(fallbackCharset) ? fallbackCharset : null);
  const r = decodeCharset(bytes, label);
  if (r.warning) warnings.push(r.warning);
  let text = r.text;
  const ct = part.contentType.params;
  if (part.contentType.value === 'text/plain' && (ct.format ?? '').toLowerCase() === 'flowed') {
    text = unflow(text, (ct.delsp ?? '').toLowerCase() === 'yes');
  }
  return text;
}

/**
 * RFC 3676 format=flowed: joins soft-broken lines. Lines of different quote depth are never joined
 * (section 4.5): a soft break followed by a line of another depth counts as a hard break.
 */
function unflow(text: string, delSp: boolean): string {
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  let cur: string | null = null;
  let curDepth = 0;
  for (const raw of lines) {
    let depth = 0;
    while (raw.charCodeAt(depth) === 0x3e) depth++; // '>'
    const quote = raw.slice(0, depth);
    let line = raw.slice(depth);
    if (line.startsWith(' ')) line = line.slice(1); // space-stuffing
    const soft = line.endsWith(' ') && line !== '-- ';
    if (soft && delSp) line = line.slice(0, -1);
    if (cur !== null && depth !== curDepth) {
      out.push(cur);
      cur = null;
    }
    if (cur === null) {
      cur = quote + (quote ? ' ' : '') + line;
      curDepth = depth;
    } else cur += line;
    if (!soft) {
      out.push(cur);
      cur = null;
    }
  }
  if (cur !== null) out.push(cur);
  return out.join('\n');
}

/**
 * Pulls uuencoded files out of a plain-text body; returns the remaining text. Works on the string
 * with forward-only searches (no split into lines), so thousands of "begin" lines stay linear.
 */
function extractUuencoded(text: string, into: ParsedAttachment[]): string {
  const begin = /^begin [0-7]{3,4} (.+)$/gm;
  const endLine = /^[^\S\n]*end[^\S\n]*$/gm;
  let out = '';
  let last = 0;
  for (let m = begin.exec(text); m; m = begin.exec(text)) {
    const dataStart = text.indexOf('\n', m.index);
    if (dataStart < 0) break;
    endLine.lastIndex = dataStart + 1;
    const e = endLine.exec(text);
    // No "end" after this "begin": none after any later one either; the rest stays text.
    if (!e) break;
    const content = decodeUuLines(text.slice(dataStart + 1, e.index).split(/\r?\n/).map((l) => l.trimEnd()));
    const filename = m[1]!.trim();
    into.push({ filename, contentType: guessType(filename), size: content.length, md5: md5(content), contentId: null, inline: false, fromTnef: false, content });
    out += text.slice(last, m.index);
    let cut = e.index + e[0].length;
    if (text[cut] === '\n') cut++;
    else out = out.replace(/\r?\n$/, ''); // the block ended the text: so does the line before it
    last = cut;
    begin.lastIndex = cut;
  }
  return last === 0 ? text : out + text.slice(last);
}

const EXT_TYPES: Record<string, string> = {
  txt: 'text/plain', htm: 'text/html', html: 'text/html', pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
  zip: 'application/zip', doc: 'application/msword', xls: 'application/vnd.ms-excel', rtf: 'application/rtf', bmp: 'image/bmp', eml: 'message/rfc822',
};
export function guessType(filename: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() ?? '';
  return EXT_TYPES[ext] ?? 'application/octet-stream';
}

function attachmentFrom(part: MimePart, content: Buffer, fallbackCharset: string | null, inline: boolean): ParsedAttachment {
  return {
    filename: filenameOf(part, fallbackCharset),
    contentType: part.contentType.value,
    size: content.length,
    md5: md5(content),
    contentId: contentIdOf(part),
    inline,
    fromTnef: false,
    content,
  };
}

/**
 * Picks body parts and attachments the way JMAP (RFC 8621 4.1.4) does: in multipart/alternative
 * every text/plain part is text and every text/html part is HTML; in multipart/related only the
 * first part can be body; a named text part after the first is an attachment. Unlike JMAP, inline
 * images are always listed as attachments too (the desk must keep them).
 */
function parseStructure(parts: MimePart[], multipartType: string, inAlternative: boolean, body: { text: MimePart[] | null; html: MimePart[] | null }, attachments: MimePart[], inline: Set<MimePart>): void {
  let textBody = body.text;
  let htmlBody = body.html;
  const textLength = textBody ? textBody.length : -1;
  const htmlLength = htmlBody ? htmlBody.length : -1;
  parts.forEach((part, i) => {
    const type = part.contentType.value;
    const isMedia = /^(image|audio|video)\//.test(type);
    const named = filenameParam(part) !== null;
    const isInline =
      part.disposition.value !== 'attachment' &&
      (type === 'text/plain' || type === 'text/html' || isMedia) &&
      (i === 0 || (multipartType !== 'related' && (isMedia || !named)));
    if (part.children.length > 0 && type.startsWith('multipart/')) {
      const sub = type.slice('multipart/'.length);
      parseStructure(part.children, sub, inAlternative || sub === 'alternative', { text: textBody, html: htmlBody }, attachments, inline);
      return;
    }
    if (!isInline || part.message) {
      if (multipartType === 'related' && part.disposition.value !== 'attachment' && isMedia) inline.add(part);
      attachments.push(part);
      return;
    }
    if (isMedia) {
      // An image with no disposition is "inline" only where HTML can reference it (related);
      // in multipart/mixed the customer attached it.
      if (multipartType === 'related' || part.disposition.value === 'inline') inline.add(part);
      attachments.push(part);
      return;
    }
    if (multipartType === 'alternative') {
      if (type === 'text/plain') textBody?.push(part);
      else htmlBody?.push(part);
      return;
    }
    if (inAlternative) {
      if (type === 'text/plain') htmlBody = null;
      if (type === 'text/html') textBody = null;
    }
    textBody?.push(part);
    htmlBody?.push(part);
  });
  if (multipartType === 'alternative' && textBody && htmlBody) {
    if (textLength === textBody.length && htmlLength !== htmlBody.length) textBody.push(...htmlBody.slice(htmlLength));
    if (htmlLength === htmlBody.length && textLength !== textBody.length) htmlBody.push(...textBody.slice(textLength));
  }
}

function filenameParam(part: MimePart): string | null {
  return part.disposition.params.filename ?? part.contentType.params.name ?? null;
}

function collect(root: MimePart, out: Collected, warnings: string[], fallbackCharset: string | null): void {
  const textParts: MimePart[] = [];
  const htmlParts: MimePart[] = [];
  const attachmentParts: MimePart[] = [];
  const inline = new Set<MimePart>();
  parseStructure([root], 'mixed', false, { text: textParts, html: htmlParts }, attachmentParts, inline);
  const decoded = new Map<MimePart, string>();
  const textOf = (p: MimePart): string => {
    let t = decoded.get(p);
    if (t === undefined) {
      t = decodeText(decodeTransfer(p.body, p.transferEncoding), p, warnings, fallbackCharset);
      if (p.contentType.value === 'text/plain') t = extractUuencoded(t, out.attachments);
      decoded.set(p, t);
    }
    return t;
  };
  for (const p of textParts) {
    if (p.contentType.value === 'text/plain') {
      out.text.push(textOf(p));
      out.fromPlain = true;
    }
    else if (p.contentType.value === 'text/html') out.text.push(textFromHtml(textOf(p), warnings));
  }
  if (htmlParts.some((p) => p.contentType.value === 'text/html')) {
    for (const p of htmlParts) {
      if (p.contentType.value === 'text/html') out.html.push(textOf(p));
      else if (p.contentType.value === 'text/plain') out.html.push(`<pre>${escapeHtml(textOf(p))}</pre>`);
    }
  }
  for (const p of attachmentParts) {
    const content = p.message && !['base64', 'quoted-printable'].includes(p.transferEncoding) ? p.body : decodeTransfer(p.body, p.transferEncoding);
    out.attachments.push(attachmentFrom(p, content, fallbackCharset, inline.has(p) || p.disposition.value === 'inline'));
  }
}

/**
 * Text is derived from at most this much of an HTML body. Bodies beyond it are generated pages
 * (newsletters, reports) whose markup dwarfs their text; the whole HTML stays in `html`, and a
 * warning says the text is partial. Keeps parsing bounded on multi-megabyte HTML.
 */
export const MAX_HTML_FOR_TEXT = 512 * 1024;

function textFromHtml(html: string, warnings: string[]): string {
  if (html.length <= MAX_HTML_FOR_TEXT) return htmlToPlainText(html);
  // Cut before a tag, not inside one, when there is a tag near the limit.
  const lt = html.lastIndexOf('<', MAX_HTML_FOR_TEXT);
  const cut = lt > MAX_HTML_FOR_TEXT / 2 ? lt : MAX_HTML_FOR_TEXT;
  warnings.push(`text derived from the first ${cut} of ${html.length} characters of HTML`);
  return htmlToPlainText(html.slice(0, cut));
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Mailboxes read per address header name (all its fields together). A header listing more is
 * hostile or a mass mailing; the rest stays in `headers` and the raw message, with a warning.
 */
export const MAX_ADDRESSES_PER_HEADER = 1000;

function addressesOf(rawValues: Map<string, string[]>, name: string, fallbackCharset: string | null, warnings: string[]): MailAddress[] {
  const out: MailAddress[] = [];
  for (const r of rawValues.get(name) ?? []) {
    const left = MAX_ADDRESSES_PER_HEADER + 1 - out.length;
    if (left <= 0) break;
    out.push(...parseAddressList(decodeRawHeader(r, fallbackCharset), left));
  }
  if (out.length > MAX_ADDRESSES_PER_HEADER) {
    warnings.push(`more than ${MAX_ADDRESSES_PER_HEADER} addresses in ${name}; the rest not read`);
    out.length = MAX_ADDRESSES_PER_HEADER;
  }
  return out;
}

export async function parseMessage(raw: Buffer, opts: ParseMessageOptions = {}): Promise<ParsedMessage> {
  return parseMessageSync(raw, opts);
}

/** The synchronous core of parseMessage (everything is in memory already). */
export function parseMessageSync(raw: Buffer, opts: ParseMessageOptions = {}): ParsedMessage {
  const warnings: string[] = [];
  let root: MimePart;
  try {
    root = parseMimePart(raw, warnings, { maxParts: opts.maxParts, maxDepth: opts.maxDepth });
  } catch (err) {
    warnings.push(`MIME structure unreadable: ${(err as Error).message}`);
    root = parseMimePart(Buffer.alloc(0), warnings);
  }
  // Raw 8-bit headers that are not UTF-8 are most likely in the body's declared charset.
  const bodyCharset = findFirstCharset(root);
  const fallbackCharset = bodyCharset && !['utf8', 'usascii', 'ascii'].includes(normalizeCharset(bodyCharset)) ? bodyCharset : null;
  const rawValues = new Map<string, string[]>();
  for (const h of root.headers) {
    const list = rawValues.get(h.name) ?? [];
    list.push(h.raw);
    rawValues.set(h.name, list);
  }
  // Built from the map so that every name is an own key: `headers[name] ??= []` on a plain
  // object finds Object.prototype's "constructor" (or sets the prototype for "__proto__").
  const headers: Record<string, string[]> = Object.fromEntries(
    [...rawValues].map(([name, raws]) => [name, raws.map((r) => decodeUnstructured(r, fallbackCharset))]),
  );
  const firstRaw = (name: string): string | null => rawValues.get(name)?.[0] ?? null;

  const collected: Collected = { text: [], fromPlain: false, html: [], attachments: [] };
  try {
    collect(root, collected, warnings, fallbackCharset);
  } catch (err) {
    warnings.push(`body unreadable: ${(err as Error).message}`);
  }

  let tnef: ParsedMessage['tnef'] = null;
  if (opts.tnef !== false) {
    for (const att of [...collected.attachments]) {
      if (att.contentType !== 'application/ms-tnef' && att.contentType !== 'application/vnd.ms-tnef' && !/^winmail\.dat$/i.test(att.filename ?? '')) continue;
      const result = decodeTnef(att.content);
      warnings.push(...result.warnings);
      if (!result.ok) continue;
      tnef = { bodyType: result.bodyType };
      for (const a of result.attachments) {
        collected.attachments.push({ filename: a.filename, contentType: a.contentType ?? guessType(a.filename ?? ''), size: a.content.length, md5: md5(a.content), contentId: a.contentId, inline: false, fromTnef: true, content: a.content });
      }
      if (collected.text.join('').trim() === '' && result.text) {
        collected.text = [result.text];
        collected.fromPlain = true;
      }
      if (collected.html.length === 0 && result.html) collected.html = [result.html];
    }
  }

  const html = collected.html.length > 0 ? collected.html.join('\n') : null;
  // Line ends are normalised for the text only; downstream line logic then needs no \r cases.
  const text = normalizeLineEnds(collected.text.join('\n'));

  const fromMailboxes = addressesOf(rawValues, 'from', fallbackCharset, warnings);
  // Duplicate From fields or an empty first entry: the first mailbox that has an address speaks.
  // A From holding only a name ("From: MAILER-DAEMON") still names who sent it; nothing at all
  // ("From: <>", an empty field) is no sender: null, never an empty address with an empty name.
  const from = fromMailboxes.find((m) => m.address !== '') ?? fromMailboxes.find((m) => m.name !== '') ?? null;
  const date = firstRaw('date');
  const rp = firstRaw('return-path');
  const ct = root.contentType;
  return {
    from,
    originator: {
      fromMailboxes,
      fromFields: rawValues.get('from')?.length ?? 0,
      sender: addressesOf(rawValues, 'sender', fallbackCharset, warnings)[0] ?? null,
    },
    to: addressesOf(rawValues, 'to', fallbackCharset, warnings),
    cc: addressesOf(rawValues, 'cc', fallbackCharset, warnings),
    replyTo: addressesOf(rawValues, 'reply-to', fallbackCharset, warnings),
    deliveredTo: ['delivered-to', 'x-original-to', 'envelope-to'].flatMap((n) => addressesOf(rawValues, n, fallbackCharset, warnings).map((a) => a.address).filter(Boolean)),
    returnPath: rp === null ? null : (/<\s*>/.test(rp) ? '' : (parseAddressList(rp)[0]?.address ?? '')),
    subject: headers.subject?.[0] ?? '',
    messageId: firstRaw('message-id') === null ? null : (parseMsgIds(firstRaw('message-id')!)[0] ?? null),
    inReplyTo: firstRaw('in-reply-to') === null ? null : (parseMsgIds(firstRaw('in-reply-to')!)[0] ?? null),
    references: (rawValues.get('references') ?? []).flatMap((r) => parseMsgIds(r)),
    date: date === null ? null : parseMailDate(date),
    text,
    html,
    attachments: collected.attachments,
    tnef,
    contentType: ct.value,
    contentTypeParams: ct.params,
    headers,
    textSource: collected.text.length === 0 ? 'none' : collected.fromPlain ? 'plain' : 'html',
    warnings: [...new Set(warnings)],
  };
}

/**
 * CRLF and lone CR become LF. A copy through a byte buffer: String#replace builds the result from
 * one piece per line, which takes seconds (mostly garbage collection) on 25 MB of short lines.
 */
export function normalizeLineEnds(s: string): string {
  if (!s.includes('\r')) return s;
  if (s.length < 65536) return s.replace(/\r\n?/g, '\n'); // small: the regex is quicker than a copy
  // One byte per character when every character fits (latin1), else two (utf16le).
  const wide = /[\u0100-\uffff]/.test(s);
  const buf = Buffer.from(s, wide ? 'utf16le' : 'latin1');
  const units = wide ? new Uint16Array(buf.buffer, buf.byteOffset, buf.length / 2) : buf;
  let o = 0;
  for (let i = 0; i < units.length; i++) {
    const c = units[i]!;
    if (c === 0x0d) {
      if (units[i + 1] !== 0x0a) units[o++] = 0x0a;
    } else units[o++] = c;
  }
  return buf.toString(wide ? 'utf16le' : 'latin1', 0, wide ? o * 2 : o);
}

function findFirstCharset(part: MimePart): string | null {
  if (part.contentType.params.charset && part.contentType.value.startsWith('text/')) return part.contentType.params.charset;
  for (const c of part.children) {
    const found = findFirstCharset(c);
    if (found) return found;
  }
  return null;
}

export { ADDRESS_HEADERS };
