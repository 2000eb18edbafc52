// The worker-thread side of the understanding pool (understand-pool.ts): parses raw bytes with
// parseMessageSync and posts the ParsedMessage back. No I/O but the message port; a message that
// takes too long is the pool's business (it terminates this thread).
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessageSync, type ParseMessageOptions } from './parse-message.js';

export interface UnderstandRequest {
  id: number;
  raw: Uint8Array;
}

export type UnderstandReply =
  | { ready: true }
  | { id: number; ok: true; parsed: unknown }
  | { id: number; ok: false; error: string };

const port = parentPort;
if (!port) throw new Error('understand-worker.js runs only as a worker thread');
const options = (workerData as { parseOptions?: ParseMessageOptions } | null)?.parseOptions ?? {};

/** Below this an ArrayBuffer may be Node's shared allocation pool, which must never be detached. */
const TRANSFER_MIN_BYTES = 64 * 1024;

/** Large attachment contents are handed back (transferred) instead of copied; each backing store once. */
function transferables(parsed: { attachments: { content: Uint8Array }[] }): ArrayBuffer[] {
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
    reply = { id: request.id, ok: true, parsed };
  } catch (error) {
    reply = { id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply, transfer);
});
// Tells the pool this thread has loaded its modules: the time budget starts only after that.
port.postMessage({ ready: true } satisfies UnderstandReply);
