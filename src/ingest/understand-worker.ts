// The worker-thread side of the understanding pool (understand-pool.ts): parses raw bytes with
// parseMessageSync and, when asked to understand, runs understandParsed with the options the pool
// was created with; posts the result back. No I/O but the message port; a message that takes too
// long is the pool's business (it terminates this thread).
import { parentPort, workerData } from 'node:worker_threads';
import { COLLECT_AFTER_BYTES, fullCollector } from './full-collection.js';
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

// A large message's bytes reach this thread as a view of the intake's SharedArrayBuffer (or as a
// transferred copy): after the reply the view is garbage but keeps the whole message alive until
// this thread collects, which a thread that only parses does rarely (memory run: the service's
// peak 354-360 MB without this, 273-302 MB with it). The collection takes 12-53 ms here.
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
