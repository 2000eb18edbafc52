// Is a raw message empty? Nothing at all, only white space, or only the trace fields an
// intake or MTA adds on delivery (Return-Path, Received, Delivered-To, ...) with no content:
// there is nothing to keep, so it is refused rather than stored. Pure: bytes in, boolean out.

const TRACE_FIELD = /^(?:return-path|received|delivered-to|x-original-to|envelope-to|x-envelope-to|x-envelope-from)$/i;

const MAX_EMPTY_BYTES = 64 * 1024;

/** True when the message has no header field of its own and no body text. */
export function isEmptyInput(raw: Buffer): boolean {
  // Trace fields are short: anything this long has content of its own.
  if (raw.length > MAX_EMPTY_BYTES) return false;
  const text = raw.toString('latin1');
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const body = split ? text.slice(split.index + split[0].length) : '';
  if (body.trim() !== '') return false;
  for (const line of head.split(/\r?\n/)) {
    if (line.trim() === '' || /^[ \t]/.test(line)) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return false;
    if (!TRACE_FIELD.test(line.slice(0, colon).trim())) return false;
  }
  return true;
}
