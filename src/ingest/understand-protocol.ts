// What the understanding pool (understand-pool.ts) and its threads (understand-worker.ts) say to
// each other: a request is a batch of messages, the reply a result per message, and the thread's
// progress through the batch sits in a little shared memory the pool reads when a budget runs out.
// Its own module so that the pool can use the constants without loading the worker.
import type { ParseMessageOptions } from './parse-message.js';
import type { UnderstandingOptions } from '../threading/understanding.js';

export interface UnderstandRequest {
  id: number;
  /** 'parse': the ParsedMessage only; 'understand': the whole Understanding. */
  op: 'parse' | 'understand';
  /** The batch's messages, in order. */
  raws: Uint8Array[];
}

/** One message's answer. */
export type UnderstandResult = { ok: true; result: unknown } | { ok: false; error: string };

export type UnderstandReply =
  | { ready: true }
  | { id: number; results: UnderstandResult[] };

/**
 * The thread's progress, in shared memory the pool reads when its timer fires (BigInt64Array view):
 * PROGRESS_AT is `request id × PROGRESS_SPAN + index` of the message being understood, PROGRESS_SINCE
 * when it started (milliseconds, `performance.timeOrigin + performance.now()`). Written since-first.
 */
export const PROGRESS_AT = 0;
export const PROGRESS_SINCE = 1;
export const PROGRESS_SPAN = 1n << 20n;
/** Bytes of the progress memory. */
export const PROGRESS_BYTES = 16;

/** Milliseconds on a clock both threads share (each thread's timeOrigin is its own start). */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface UnderstandWorkerData {
  parseOptions?: ParseMessageOptions;
  /** Absent: the thread can parse but not understand (the pool refuses `understand` then). */
  understanding?: UnderstandingOptions | null;
  /** PROGRESS_BYTES of shared memory (see PROGRESS_AT). */
  progress: SharedArrayBuffer;
}
