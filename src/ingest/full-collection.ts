// V8's full garbage collection on demand, for the understanding thread after its reply to a large
// message: that message's bytes (a view of the intake's SharedArrayBuffer, or a transferred copy)
// live outside the JavaScript heap, and V8 collects them only once ~64 MB more of such memory has
// piled up, so five 25 MB messages in a row held three or four of them at once.
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
