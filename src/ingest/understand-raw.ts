// Understanding in-process: parse the raw bytes, then the shared pure step (understandParsed).
// `casemail inspect` and the intake without a worker pool call this; the pool's threads run the
// same two calls (understand-worker.ts). No I/O.
import type { ParseMessageOptions } from './parse-message.js';
import { parseMessageSync } from './parse-message.js';
import { understandParsed, type Understanding, type UnderstandingOptions } from '../threading/understanding.js';

/** Parse + understand, synchronously. A message that cannot be parsed at all throws (the intake quarantines it). */
export function understandRawSync(raw: Buffer, opts: UnderstandingOptions, parseOptions: ParseMessageOptions = {}): Understanding {
  return understandParsed(parseMessageSync(raw, parseOptions), opts);
}

/** The same, in the shape of UnderstandPool.understand (the handler takes either). */
export async function understandRaw(raw: Buffer, opts: UnderstandingOptions, parseOptions: ParseMessageOptions = {}): Promise<Understanding> {
  return understandRawSync(raw, opts, parseOptions);
}
