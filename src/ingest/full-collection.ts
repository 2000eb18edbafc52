// V8's full garbage collection on demand, for the two places that know a large message's bytes
// just became garbage (the understanding thread after its reply, the SMTP intake after its
// answer). Those bytes live outside the JavaScript heap (a SharedArrayBuffer, transferred
// attachment contents, socket chunks): V8 only collects them once ~64 MB more of such memory has
// piled up, so five 25 MB messages in a row held three or four of them at once.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** After a message at least this large (the understanding pool's large messages) its thread collects at once. */
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
