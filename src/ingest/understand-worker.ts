// The worker-thread side of the understanding pool (understand-pool.ts): parses raw bytes with
// parseMessageSync and, when asked to understand, runs understandParsed with the options the pool
// was created with; posts the results back. A request carries a batch of messages (the pool sends
// what queued up while the thread was busy, so a burst costs one wake-up per batch, not per
// message) and is answered once, with a result per message. Before each message the thread
// publishes which one it is on and since when (the `progress` shared memory), so the pool's timer
// measures each message's own budget and knows whom to blame. No I/O but the message port; a
// message that takes too long is the pool's business (it terminates this thread).
import { parentPort, workerData } from 'node:worker_threads';
import { COLLECT_AFTER_BYTES, fullCollector } from './full-collection.js';
import { parseMessageSync } from './parse-message.js';
import { understandParsed } from '../threading/understanding.js';
import { splitIssues } from '../threading/split-issues.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import {
  PROGRESS_AT, PROGRESS_SINCE, PROGRESS_SPAN, sharedClockMs, type UnderstandReply, type UnderstandRequest, type UnderstandResult, type UnderstandWorkerData,
} from './understand-protocol.js';

const port = parentPort;
if (!port) throw new Error('understand-worker.js runs only as a worker thread');
const data = workerData as UnderstandWorkerData;
const options = data.parseOptions ?? {};
const understanding = data.understanding ?? null;
const progress = new BigInt64Array(data.progress);

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

/** One message: its result and the attachment buffers to hand back with it. */
function understandOne(op: UnderstandRequest['op'], bytes: Uint8Array, transfer: Set<ArrayBuffer>): UnderstandResult {
  try {
    // The bytes arrive as a Uint8Array of their own; view them as a Buffer without copying.
    const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const parsed = parseMessageSync(raw, options);
    let result: unknown = parsed;
    if (op === 'understand') {
      if (!understanding) throw new Error('this pool was created without understanding options');
      // Dates (parsed.date) survive the structured clone as Dates; Buffers arrive as Uint8Arrays.
      result = understandParsed(parsed, understanding);
    }
    for (const ab of transferables(parsed)) transfer.add(ab);
    return { ok: true, result };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

port.on('message', (request: UnderstandRequest) => {
  const transfer = new Set<ArrayBuffer>();
  const results: UnderstandResult[] = [];
  let largest = 0;
  for (const [index, bytes] of request.raws.entries()) {
    Atomics.store(progress, PROGRESS_SINCE, BigInt(Math.floor(sharedClockMs())));
    Atomics.store(progress, PROGRESS_AT, BigInt(request.id) * PROGRESS_SPAN + BigInt(index));
    results.push(understandOne(request.op, bytes, transfer));
    largest = Math.max(largest, bytes.byteLength);
  }
  port.postMessage({ id: request.id, results } satisfies UnderstandReply, [...transfer]);
  // After the reply, so the collection (tens of ms in this thread) delays no answer.
  if (collect && largest >= COLLECT_AFTER_BYTES) setImmediate(collect);
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
