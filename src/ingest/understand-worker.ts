// The worker-thread side of the understanding pool (understand-pool.ts): parses raw bytes with
// parseMessageSync and, when asked to understand, runs understandParsed with the options the pool
// was created with; posts the result back. No I/O but the message port; a message that takes too
// long is the pool's business (it terminates this thread).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessageSync, type ParseMessageOptions } from './parse-message.js';
import { understandParsed, type UnderstandingOptions } from '../threading/understanding.js';
import { splitIssues } from '../threading/split-issues.js';
import type { ParsedMessage } from '../threading/parsed-message.js';

export interface UnderstandRequest {
  id: number;
  /** 'parse': the ParsedMessage only; 'understand': the whole Understanding. */
  op: 'parse' | 'understand';
  raw: Uint8Array;
}

export type UnderstandReply =
  | { ready: true }
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

export interface UnderstandWorkerData {
  parseOptions?: ParseMessageOptions;
  /** Absent: the thread can parse but not understand (the pool refuses `understand` then). */
  understanding?: UnderstandingOptions | null;
}

const port = parentPort;
if (!port) throw new Error('understand-worker.js runs only as a worker thread');
const data = (workerData as UnderstandWorkerData | null) ?? {};
const options = data.parseOptions ?? {};
const understanding = data.understanding ?? null;

/** Below this an ArrayBuffer may be Node's shared allocation pool, which must never be detached. */
const TRANSFER_MIN_BYTES = 64 * 1024;

/** After a message at least this large (the pool's large messages, 8 MiB) the thread collects its garbage at once. */
const COLLECT_AFTER_BYTES = 8 * 1024 * 1024;

/**
 * V8's full collection, or null if it cannot be had. A large message's bytes reach this thread as
 * a view of the intake's SharedArrayBuffer (or as a transferred copy): once the reply is posted
 * the view is garbage, but it keeps the whole 25 MB alive until this thread's collector runs, and
 * a thread that only parses runs it once ~64 MB of such garbage has piled up. Five 25 MB messages
 * in a row so kept three or four of them alive in the service (bench: peak RSS 354-360 MB; with a
 * collection after each, 284 MB). The flag is set at run time because the service is started as
 * plain `node` (a worker cannot be given V8 flags of its own); only a new context sees it.
 */
function fullCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

const collect = fullCollector();

/** Large attachment contents are handed back (transferred) instead of copied; each backing store once. */
function transferables(parsed: ParsedMessage): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of parsed.attachments) {
    const ab = a.content.buffer;
    if (ab instanceof ArrayBuffer && ab.byteLength >= TRANSFER_MIN_BYTES) out.add(ab);
  }
  return [...out];
}

port.on('message', (request: UnderstandRequest) => {
  let reply: UnderstandReply;
  let transfer: ArrayBuffer[] = [];
  try {
    // The bytes arrive as a Uint8Array of their own; view them as a Buffer without copying.
    const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
    const parsed = parseMessageSync(raw, options);
    transfer = transferables(parsed);
    if (request.op === 'understand') {
      if (!understanding) throw new Error('this pool was created without understanding options');
      // Dates (parsed.date) survive the structured clone as Dates; Buffers arrive as Uint8Arrays.
      reply = { id: request.id, ok: true, result: understandParsed(parsed, understanding) };
    } else {
      reply = { id: request.id, ok: true, result: parsed };
    }
  } catch (error) {
    transfer = [];
    reply = { id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply, transfer);
  // After the reply, so the collection (tens of ms in this thread) delays no answer.
  if (collect && request.raw.byteLength >= COLLECT_AFTER_BYTES) setImmediate(collect);
});
// One small message through every step before saying ready: the first run of each module
// (lazy compilation, regular expressions) is start-up cost, not the first real message's budget.
try {
  const sample = Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: Re: Case #100000 two issues\r\nMessage-ID: <w@example.com>\r\n'
    + 'Content-Type: text/plain; charset=utf-8\r\n\r\nSev 2.\r\n\r\n1. The export fails with E42 every night since the update.\r\n'
    + '2. The login page is slow for every user since Monday.\r\n\r\n-- \r\nA\r\n\r\nOn Mon, B wrote:\r\n> earlier\r\n');
  const parsed = parseMessageSync(sample, options);
  if (understanding) understandParsed(parsed, understanding);
  // The sample is a reply, which the splitter never reads: warm its list and prose paths apart.
  if (understanding) splitIssues('Problems', 'We are seeing the following:\n\n- The export fails with E42 every night since the update.\n- The login page is slow for every user since Monday.\n\nAnother problem: the import hangs.\n\nP.S. Attached is the log.');
} catch {
  // A warm-up failure is not this thread's death: real messages report their own errors.
}
// Tells the pool this thread has loaded and warmed its modules: the time budget starts only after that.
port.postMessage({ ready: true } satisfies UnderstandReply);
