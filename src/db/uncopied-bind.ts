// Big bytea parameters (a 25 MB raw message, its attachments) go to PostgreSQL without being
// copied. pg serializes a Bind message into one growing buffer (pg-protocol's Writer: copied at
// each growth, then kept until the socket wrote it and the garbage collector ran): a statement
// with a 25 MB raw message and its 18 MB attachment cost ~70 MB of fresh buffers on top of the
// values themselves, and a few such statements in a row were most of the service's peak memory.
// Here a Bind that carries a large Buffer is written as its small parts plus the caller's own
// Buffers, to the (corked) socket in order: the same bytes on the wire, no copy of the big values.
// bindParts is pure; sendLargeValuesUncopied patches one pg connection (I/O: its socket).
import type { Connection } from 'pg';

/** A Buffer parameter at least this long is written as it is instead of copied into the message. */
export const UNCOPIED_MIN_BYTES = 64 * 1024;

/** What pg's Query passes to Connection.bind (pg-protocol's BindOpts). */
export interface BindConfig {
  portal?: string;
  statement?: string;
  binary?: boolean;
  values?: readonly unknown[];
  valueMapper?: (value: unknown, index: number) => unknown;
}

const BIND = 0x42; // 'B'
const patched = Symbol('casemail.uncopiedBind');

function int16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(n, 0);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n, 0);
  return b;
}

function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/**
 * The Bind message of `config` as consecutive parts whose concatenation is exactly what
 * pg-protocol's serialize.bind writes (text values as UTF-8 with format 0, Buffers with format 1,
 * null as length -1), or null when no value is a Buffer of at least `minBytes` (pg's own path is
 * then as good). Large Buffers are parts of their own, the caller's object itself (not copied);
 * small pieces in between are joined. `valueMapper` (pg's prepareValue) maps each value once.
 */
export function bindParts(config: BindConfig, minBytes = UNCOPIED_MIN_BYTES): Buffer[] | null {
  const raw = config.values ?? [];
  // Only a Buffer (or a typed array, which pg sends as one) maps to a Buffer: look before mapping,
  // so the usual Bind's values (arrays serialized to text) are not mapped here and again by pg.
  if (!raw.some((v) => ArrayBuffer.isView(v) && v.byteLength >= minBytes)) return null;
  const mapped = raw.map((v, i) => (config.valueMapper ? config.valueMapper(v, i) : v));
  if (!mapped.some((v) => v instanceof Buffer && v.length >= minBytes)) return null;
  const formats = Buffer.alloc(mapped.length * 2);
  const parts: Buffer[] = [];
  let small: Buffer[] = [];
  let length = 4;
  const add = (b: Buffer, alone: boolean) => {
    length += b.length;
    if (!alone) {
      small.push(b);
      return;
    }
    if (small.length) parts.push(Buffer.concat(small));
    small = [];
    parts.push(b);
  };
  const head = [cString(config.portal ?? ''), cString(config.statement ?? ''), int16(mapped.length), formats, int16(mapped.length)];
  mapped.forEach((v, i) => {
    if (v === null || v === undefined) {
      add(int32(-1), false);
    } else if (v instanceof Buffer) {
      formats.writeInt16BE(1, i * 2);
      add(int32(v.length), false);
      add(v, v.length >= minBytes);
    } else {
      const text = Buffer.from(String(v), 'utf8');
      add(int32(text.length), false);
      add(text, false);
    }
  });
  add(int16(1), false);
  add(int16(config.binary ? 1 : 0), false);
  if (small.length) parts.push(Buffer.concat(small));
  const headBytes = Buffer.concat(head);
  length += headBytes.length;
  const start = Buffer.allocUnsafe(5);
  start[0] = BIND;
  start.writeInt32BE(length, 1);
  return [Buffer.concat([start, headBytes]), ...parts];
}

/** The parts of pg's Connection this file uses (pg's Query calls bind(config) with one argument). */
type BindingConnection = { bind(config: BindConfig): void; stream: { writable: boolean; write(chunk: Buffer): boolean } };

/**
 * Makes `connection` write Binds with large Buffer values as bindParts (pg corks the socket
 * around a query's messages, so the parts leave together); every other Bind goes through pg.
 * Idempotent per connection.
 */
export function sendLargeValuesUncopied(connection: Connection, minBytes = UNCOPIED_MIN_BYTES): void {
  const c = connection as unknown as BindingConnection & { [patched]?: true };
  if (c[patched]) return;
  c[patched] = true;
  const viaPg = c.bind.bind(c);
  c.bind = (config: BindConfig) => {
    const parts = bindParts(config, minBytes);
    if (!parts) return viaPg(config);
    // As pg's _send: nothing is written on a socket that is no longer writable.
    if (!c.stream.writable) return;
    for (const part of parts) c.stream.write(part);
  };
}
