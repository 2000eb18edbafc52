// Fuzz message generators for the chaos suite: valid mails built in code, then mutated —
// truncations, bit flips, boundary chaos, 1 MB header lines, 10,000 recipients, 100-level
// nesting, bad base64 and quoted-printable, NUL bytes, mixed line endings with bare CR.
// Everything derives from the Rng, so a seed reproduces the run. No I/O.
import type { Rng } from './prng.js';

export const FUZZ_KINDS = [
  'valid', 'truncate', 'bitflip', 'empty-parts', 'missing-close', 'prefix-boundaries', 'bad-base64', 'bad-qp',
  'nul-bytes', 'line-endings', 'combo', 'huge-header', 'many-recipients', 'deep-nesting',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

export interface FuzzMessage {
  index: number;
  kind: FuzzKind;
  /** The Message-ID written into it (a mutation may have damaged it). */
  messageId: string;
  raw: Buffer;
}

const SENDERS = ['Bob Builder <bob@acme.example>', 'carol@acme.example', '"Hank" <hank@globex.example>', 'Stranger <someone@nowhere.example>'];
const WORDS = ['export', 'fails', 'error', 'E42', 'nightly', 'server', 'crash', 'urgent', 'Grüße', 'ошибка', '失败', 'license', 'timeout', '<b>', '&amp;', '{{x}}'];

function words(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => rng.pick(WORDS)).join(' ');
}

function bodyLines(rng: Rng, lines: number): string {
  return Array.from({ length: lines }, () => words(rng, 3 + rng.int(10))).join('\r\n');
}

function head(rng: Rng, messageId: string, contentType: string, extra: string[] = []): string {
  return [
    `From: ${rng.pick(SENDERS)}`,
    'To: support@casemail.localhost',
    `Subject: ${words(rng, 2 + rng.int(5))}`,
    `Message-ID: ${messageId}`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
    ...extra,
  ].join('\r\n');
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** One of four valid shapes: plain, alternative (qp), mixed with an attachment, nested with a forwarded mail. */
export function validMail(rng: Rng, messageId: string): string {
  const shape = rng.int(4);
  const b = `b${rng.int(1e9)}`;
  if (shape === 0) return `${head(rng, messageId, 'text/plain; charset=utf-8')}\r\n\r\n${bodyLines(rng, 2 + rng.int(20))}\r\n`;
  if (shape === 1) {
    return `${head(rng, messageId, `multipart/alternative; boundary="${b}"`)}\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`
      + `${bodyLines(rng, 3).replace(/[^\x20-\x7e\r\n]/g, (c) => [...Buffer.from(c)].map((x) => `=${x.toString(16).toUpperCase().padStart(2, '0')}`).join(''))}\r\n`
      + `--${b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>${words(rng, 8)}</p><blockquote>${words(rng, 5)}</blockquote></body></html>\r\n--${b}--\r\n`;
  }
  if (shape === 2) {
    return `${head(rng, messageId, `multipart/mixed; boundary="${b}"`)}\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${bodyLines(rng, 4)}\r\n`
      + `--${b}\r\nContent-Type: application/octet-stream; name="log.bin"\r\nContent-Disposition: attachment; filename="log.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n`
      + `${base64Lines(randomBytes(rng, 200 + rng.int(3000)))}\r\n--${b}--\r\n`;
  }
  const inner = `From: someone@inner.example\r\nSubject: ${words(rng, 3)}\r\nContent-Type: text/plain\r\n\r\n${bodyLines(rng, 3)}\r\n`;
  return `${head(rng, messageId, `multipart/mixed; boundary="${b}"`)}\r\n\r\n--${b}\r\nContent-Type: multipart/alternative; boundary="${b}a"\r\n\r\n`
    + `--${b}a\r\nContent-Type: text/plain\r\n\r\n${bodyLines(rng, 3)}\r\n--${b}a\r\nContent-Type: text/html\r\n\r\n<p>${words(rng, 4)}</p>\r\n--${b}a--\r\n`
    + `--${b}\r\nContent-Type: message/rfc822\r\n\r\n${inner}--${b}--\r\n`;
}

function truncate(rng: Rng, raw: Buffer): Buffer {
  return raw.subarray(0, 1 + rng.int(Math.max(1, raw.length - 1)));
}

function bitflip(rng: Rng, raw: Buffer): Buffer {
  const out = Buffer.from(raw);
  const flips = 1 + rng.int(32);
  for (let i = 0; i < flips; i++) {
    const at = rng.int(out.length);
    out[at] = out[at]! ^ (1 << rng.int(8));
  }
  return out;
}

function emptyParts(rng: Rng, messageId: string): string {
  const b = `e${rng.int(1e6)}`;
  const parts = Array.from({ length: 1 + rng.int(6) }, () => rng.pick([`--${b}\r\n`, `--${b}\r\n\r\n`, `--${b}\r\nContent-Type: text/plain\r\n\r\n`, `--${b}\r\n\r\n${words(rng, 3)}\r\n`])).join('');
  return `${head(rng, messageId, `multipart/mixed; boundary="${b}"`)}\r\n\r\n${parts}${rng.chance(0.5) ? `--${b}--\r\n` : ''}`;
}

function missingClose(rng: Rng, messageId: string): string {
  const b = `m${rng.int(1e6)}`;
  const inner = `${b}i`;
  return `${head(rng, messageId, `multipart/mixed; boundary="${b}"`)}\r\n\r\n--${b}\r\nContent-Type: multipart/alternative; boundary="${inner}"\r\n\r\n`
    + `--${inner}\r\nContent-Type: text/plain\r\n\r\n${bodyLines(rng, 2)}\r\n--${inner}\r\nContent-Type: text/html\r\n\r\n<p>${words(rng, 3)}`
    + (rng.chance(0.5) ? `\r\n--${b}\r\nContent-Type: text/plain\r\n\r\n${words(rng, 4)}` : '');
}

function prefixBoundaries(rng: Rng, messageId: string): string {
  // Each inner boundary starts with the outer one: a parser must match whole delimiter lines.
  const levels = 2 + rng.int(4);
  const names = Array.from({ length: levels }, (_, i) => 'x'.repeat(i + 1));
  if (rng.chance(0.5)) names.reverse();
  let body = `${words(rng, 4)}\r\n`;
  for (let i = levels - 1; i >= 0; i--) {
    const b = names[i]!;
    const child = i === levels - 1 ? `Content-Type: text/plain\r\n\r\n${body}` : `Content-Type: multipart/mixed; boundary="${names[i + 1]!}"\r\n\r\n${body}`;
    body = `--${b}\r\n${child}\r\n--${b}\r\nContent-Type: text/plain\r\n\r\n--${b}-not-a-delimiter ${words(rng, 2)}\r\n${rng.chance(0.7) ? `--${b}--\r\n` : ''}`;
  }
  return `${head(rng, messageId, `multipart/mixed; boundary="${names[0]!}"`)}\r\n\r\n${body}`;
}

function badBase64(rng: Rng, messageId: string): string {
  const b = `c${rng.int(1e6)}`;
  const junk = rng.pick([
    () => '!!!not base64 at all!!!',
    () => base64Lines(randomBytes(rng, 300)).replace(/[A-Za-z]/g, (c) => (rng.chance(0.05) ? rng.pick(['*', '=', '-', ' ', '\u00e9']) : c)),
    () => 'QUJD=RUY=R0g===\r\n====\r\nA',
    () => base64Lines(randomBytes(rng, 100)).slice(0, -3),
  ])();
  const where = rng.chance(0.5) ? 'text/plain; charset=utf-8' : 'application/pdf; name="r.pdf"';
  return `${head(rng, messageId, `multipart/mixed; boundary="${b}"`)}\r\n\r\n--${b}\r\nContent-Type: ${where}\r\nContent-Transfer-Encoding: base64\r\n\r\n${junk}\r\n--${b}--\r\n`;
}

function badQp(rng: Rng, messageId: string): string {
  const junk = Array.from({ length: 5 + rng.int(20) }, () => rng.pick(['=ZZ', '=', '=\r\n', '=4', '=C3=', '=FF=FE', 'plain', '= ', '==', '=0D=0A', '=3D=3', words(rng, 2)])).join(rng.pick(['', ' ', '\r\n']));
  return `${head(rng, messageId, `text/${rng.pick(['plain', 'html'])}; charset=${rng.pick(['utf-8', 'iso-8859-1', 'x-unknown', 'utf-16'])}`, ['Content-Transfer-Encoding: quoted-printable'])}\r\n\r\n${junk}`;
}

function nulBytes(rng: Rng, raw: Buffer): Buffer {
  const out = [...raw];
  const n = 1 + rng.int(20);
  for (let i = 0; i < n; i++) out.splice(rng.int(out.length + 1), 0, 0);
  return Buffer.from(out);
}

function lineEndings(rng: Rng, raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r\n/g, () => rng.pick(['\r\n', '\n', '\r', '\n\r', '\r\r\n'])), 'latin1');
}

function hugeHeader(rng: Rng, messageId: string): string {
  const name = rng.pick(['Subject', 'X-Long', 'References', 'Content-Type']);
  const line = name === 'Content-Type'
    ? `text/plain; ${'a=b; '.repeat(200_000)}`
    : name === 'References' ? Array.from({ length: 25_000 }, (_, i) => `<r${i}@x.example>`).join(' ') : 'A'.repeat(1024 * 1024);
  return `${name}: ${line}\r\n${head(rng, messageId, 'text/plain')}\r\n\r\n${words(rng, 5)}\r\n`;
}

function manyRecipients(rng: Rng, messageId: string): string {
  const to = Array.from({ length: 10_000 }, (_, i) => `"R ${i}" <r${i}@many.example>`).join(',\r\n ');
  return `${head(rng, messageId, 'text/plain').replace('To: support@casemail.localhost', `To: support@casemail.localhost,\r\n ${to}`)}\r\nCc: ${rng.chance(0.5) ? to : 'x@y.example'}\r\n\r\n${words(rng, 5)}\r\n`;
}

function deepNesting(rng: Rng, messageId: string): string {
  const depth = 100;
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += `--n${i}\r\nContent-Type: multipart/mixed; boundary="n${i + 1}"\r\n\r\n`;
    close = `--n${i}--\r\n` + close;
  }
  return `${head(rng, messageId, 'multipart/mixed; boundary="n0"')}\r\n\r\n${open}--n${depth}\r\nContent-Type: text/plain\r\n\r\n${words(rng, 5)}\r\n--n${depth}--\r\n${rng.chance(0.8) ? close : ''}`;
}

const MUTATIONS: readonly ((rng: Rng, raw: Buffer) => Buffer)[] = [truncate, bitflip, nulBytes, lineEndings];

/** Which kind message `index` of `total` is: the heavy ones on a fixed schedule, the rest at random. */
export function kindFor(rng: Rng, index: number): FuzzKind {
  if (index % 250 === 0) return 'huge-header';
  if (index % 250 === 1) return 'many-recipients';
  if (index % 50 === 2) return 'deep-nesting';
  return rng.pick(FUZZ_KINDS.slice(0, 11));
}

/** The index-th fuzz message of the run tagged `run`. */
export function fuzzMessage(rng: Rng, index: number, run: string): FuzzMessage {
  const kind = kindFor(rng, index);
  const messageId = `<fuzz-${run}-${index}@fuzz.example>`;
  const valid = () => Buffer.from(validMail(rng, messageId), 'utf8');
  const build: Record<FuzzKind, () => Buffer> = {
    valid,
    truncate: () => truncate(rng, valid()),
    bitflip: () => bitflip(rng, valid()),
    'empty-parts': () => Buffer.from(emptyParts(rng, messageId)),
    'missing-close': () => Buffer.from(missingClose(rng, messageId)),
    'prefix-boundaries': () => Buffer.from(prefixBoundaries(rng, messageId)),
    'bad-base64': () => Buffer.from(badBase64(rng, messageId)),
    'bad-qp': () => Buffer.from(badQp(rng, messageId)),
    'nul-bytes': () => nulBytes(rng, valid()),
    'line-endings': () => lineEndings(rng, valid()),
    combo: () => rng.pick(MUTATIONS)(rng, rng.pick(MUTATIONS)(rng, rng.chance(0.5) ? valid() : Buffer.from(rng.pick([emptyParts, missingClose, prefixBoundaries, badBase64, badQp])(rng, messageId)))),
    'huge-header': () => Buffer.from(hugeHeader(rng, messageId)),
    'many-recipients': () => Buffer.from(manyRecipients(rng, messageId)),
    'deep-nesting': () => Buffer.from(deepNesting(rng, messageId)),
  };
  return { index, kind, messageId, raw: build[kind]() };
}
