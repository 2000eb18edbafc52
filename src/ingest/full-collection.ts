// V8's full garbage collection on demand, for the understanding thread after its reply to a large
// message: that message's bytes (a view of the intake's SharedArrayBuffer, or a transferred copy)
// live outside the JavaScript heap, and V8 collects them only once ~64 MB more of such memory has
// piled up, so five 25 MB messages in a row held three or four of them at once. And for the main
// thread before a large message arrives in full (collectBeforeLargeMessage).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** After a message at least this large (the understanding pool's large messages) the thread collects at once. */
export const COLLECT_AFTER_BYTES = 8 * 1024 * 1024;

/**
 * A function running a full collection in the calling thread, or null if V8 will not give one.
 * The flag is set at run time because the service runs as plain `node` (and a worker thread
 * cannot be given V8 flags of its own); only a context made after it sees `gc`.
 */
export function fullCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * `collect` made to run at most once per `intervalMs` (milliseconds of `now`, performance.now by
 * default): every call after the first within the interval does nothing.
 */
export function atMostEvery(intervalMs: number, collect: (() => void) | null): (now?: number) => void {
  let last = -Infinity;
  return (now = performance.now()) => {
    if (!collect || now - last < intervalMs) return;
    last = now;
    collect();
  };
}

let beforeLarge: ((now?: number) => void) | undefined;

/**
 * A full collection of the calling thread's heap as a large message comes in (the SMTP intake
 * once its DATA passes COLLECT_AFTER_BYTES, the understanding pool before a large message goes to
 * its thread), at most once a second. That message is when the service's memory peaks (its
 * chunks, their join, the thread's copy and parse, the statement), and the main thread's old
 * generation then still held up to twice what was live: V8 collects by its own allocation, not
 * by the Buffers outside its heap. The bench's memory phase (five 25 MB messages over SMTP): peak
 * RSS 316-323 MB without it, 279-303 MB with it (4 and 6 runs). It takes ~40-80 ms of the thread.
 */
export function collectBeforeLargeMessage(): void {
  beforeLarge ??= atMostEvery(1000, fullCollector());
  beforeLarge();
}
