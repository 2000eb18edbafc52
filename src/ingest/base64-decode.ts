// Base64 transfer decoding of a body held in a Buffer, in windows: a 25 MB part never becomes one
// 25 MB string (the old way, decodeBase64Loose(body.toString('latin1')), held that string in the
// V8 heap beside the decoded bytes). The result is byte for byte what decodeBase64Loose gives for
// the same bytes read as latin1; padding in the middle of the stream (concatenated base64 blocks)
// is left to that function. Pure.
import { decodeBase64Loose } from './parse-header.js';

/**
 * Body bytes read per window (64 KiB): each is one short-lived latin1 string of that size. Strings
 * of 128 KiB and more go to V8's large-object space, and decoding 25 MB in such windows took ten
 * times as long here (1 MiB windows, external strings, were no faster than 64 KiB).
 */
export const BASE64_WINDOW_BYTES = 64 * 1024;

/**
 * 1 for a data character. Node's decoder reads both alphabets (+/ and -_), skips every other
 * character and stops at the first "=": decodeBase64Loose relies on it for most input.
 */
const DATA = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') DATA[c.charCodeAt(0)] = 1;

/** Decoded bytes of an incomplete final quantum of k data characters (a lone one holds none). */
const PARTIAL_BYTES = [0, 0, 1, 2];

/**
 * Decodes a base64 body exactly as `decodeBase64Loose(body.toString('latin1'))` does, without the
 * whole-body string: Node's decoder reads one window at a time into one output Buffer, and each
 * window after the first starts at the first character of the quantum the one before left
 * incomplete. `window` (bytes per window) is a parameter for tests.
 */
export function decodeBase64Body(body: Buffer, window: number = BASE64_WINDOW_BYTES): Buffer {
  const step = Math.max(4, Math.floor(window));
  const eq = body.indexOf(0x3d);
  // Data after an "=": blocks padded one by one, which decodeBase64Loose decodes block by block.
  if (eq >= 0 && dataIndex(body, eq + 1, body.length) >= 0) return decodeBase64Loose(body.toString('latin1'));
  // Otherwise the stream ends at the first "=" (if any), whatever junk follows it.
  const limit = eq >= 0 ? eq : body.length;
  // At most 3 bytes per 4 data characters, and every data character is a body byte.
  const out = Buffer.allocUnsafe(Math.floor((limit * 3) / 4));
  let scratch: Buffer | null = null;
  let o = 0;
  let start = 0;
  let span = step;
  while (start < limit) {
    const end = Math.min(limit, start + span);
    const text = body.toString('latin1', start, end);
    // The partial bytes of an incomplete last quantum are written too: the next window rewrites them.
    const written = out.write(text, o, 'base64');
    if (end === limit) return out.subarray(0, o + written);
    // The data characters in the window, modulo 4, from the bytes they made: 1 or 2 bytes past a
    // multiple of 3 are 2 or 3 characters past a multiple of 4. Exactly a multiple of 3 is 0 or
    // 1 character: the window without its first data character then tells (3 or 0 characters).
    let k = written % 3 === 1 ? 2 : written % 3 === 2 ? 3 : 0;
    if (k === 0) {
      const first = dataIndex(body, start, end);
      if (first >= 0) {
        const room = Math.ceil(((end - first) * 3) / 4);
        if (scratch === null || scratch.length < room) scratch = Buffer.allocUnsafe(room);
        if (scratch.write(body.toString('latin1', first + 1, end), 0, 'base64') % 3 === 0) k = 1;
      }
    }
    // The next window starts at the first of the last k data characters.
    let next = end;
    for (let left = k; left > 0; ) if (DATA[body[--next]!] === 1) left--;
    if (next === start) {
      // Fewer than 4 data characters in the whole window (junk): read a longer one.
      span *= 2;
      continue;
    }
    o += written - PARTIAL_BYTES[k]!;
    start = next;
    span = step;
  }
  return out.subarray(0, o);
}

/** Index of the first data character in body[from, to), or -1. */
function dataIndex(body: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) if (DATA[body[i]!] === 1) return i;
  return -1;
}
