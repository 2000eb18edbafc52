// Group commit for intakes that hand over one message at a time (SMTP): a coalescing handler in
// front of a handler with handleGroup. Idle, a message goes at once, alone; while a commit is in
// flight, arrivals queue, and when it finishes the queue (up to maxGroup, at most one large message)
// goes as ONE handleGroup.
// No timers: nothing waits that would not wait anyway. Each caller's promise settles only once its
// own message committed (or failed), so an SMTP 250 still means "stored".
// I/O: none of its own; only through the wrapped handler.
import type { IntakeArrival, IntakeHandler, IntakeResult, IntakeSource } from './intake-types.js';

/** A handler that can commit several messages in one transaction. */
export type GroupingHandler = IntakeHandler & Required<Pick<IntakeHandler, 'handleGroup'>>;

export function canGroup(handler: IntakeHandler): handler is GroupingHandler {
  return typeof handler.handleGroup === 'function';
}

type GroupItem = { raw: Buffer; source: IntakeSource; arrival?: IntakeArrival };

/**
 * The handler's results for several messages in one transaction, null for each message the caller
 * must then `handle` alone. One message is not grouped, nor are messages for a handler without
 * handleGroup; a handleGroup that throws kept nothing (its contract), so every message gets null and
 * `onFailed` hears why. The one place both the IMAP intake and GroupCommitHandler try a group.
 */
export async function tryGroup(handler: IntakeHandler, items: readonly GroupItem[], onFailed: (error: unknown) => void): Promise<(IntakeResult | null)[]> {
  if (items.length < 2 || !handler.handleGroup) return items.map(() => null);
  try {
    return await handler.handleGroup(items);
  } catch (error) {
    try {
      onFailed(error);
    } catch {
      // A failing observer must not leave the callers unanswered.
    }
    return items.map(() => null);
  }
}

export interface GroupCommitOptions {
  /** Most messages in one transaction. Default 16. */
  maxGroup?: number;
  /** Commits (single messages or groups) running at the same time. Default 1, classic group commit. */
  maxInFlight?: number;
  /** Told when a group's transaction failed as a whole (its messages are then handled alone). */
  onGroupFailed?: (error: unknown, messages: number) => void;
  /**
   * Messages of at least this many bytes go at most one to a commit (default 8 MiB): understanding
   * and storing a 25 MB message costs a few times its size, and a group of several would pay it
   * for all of them at once. The ones left wait for the next commit, in arrival order.
   */
  largeBytes?: number;
}

interface Waiting {
  raw: Buffer;
  source: IntakeSource;
  arrival: IntakeArrival | undefined;
  resolve: (result: IntakeResult) => void;
  reject: (error: unknown) => void;
}

const DEFAULT_MAX_GROUP = 16;
const DEFAULT_MAX_IN_FLIGHT = 1;
const DEFAULT_LARGE_BYTES = 8 * 1024 * 1024;

export class GroupCommitHandler implements IntakeHandler {
  private readonly inner: GroupingHandler;
  private readonly maxGroup: number;
  private readonly maxInFlight: number;
  private readonly onGroupFailed: ((error: unknown, messages: number) => void) | undefined;
  private readonly largeBytes: number;
  private readonly queue: Waiting[] = [];
  private running = 0;

  constructor(inner: GroupingHandler, options: GroupCommitOptions = {}) {
    const maxGroup = options.maxGroup ?? DEFAULT_MAX_GROUP;
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isInteger(maxGroup) || maxGroup < 1) throw new RangeError(`group commit: maxGroup must be a whole number ≥ 1, got ${maxGroup}`);
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`group commit: maxInFlight must be a whole number ≥ 1, got ${maxInFlight}`);
    this.inner = inner;
    this.maxGroup = maxGroup;
    this.maxInFlight = maxInFlight;
    this.onGroupFailed = options.onGroupFailed;
    this.largeBytes = options.largeBytes ?? DEFAULT_LARGE_BYTES;
  }

  /** Messages waiting for a commit slot (not those being committed). */
  get waiting(): number {
    return this.queue.length;
  }

  handle(raw: Buffer, source: IntakeSource, arrival?: IntakeArrival): Promise<IntakeResult> {
    // Understood while it waits for the commit in flight, not after (the commit's own wait then covers it).
    this.inner.prepare?.(raw);
    return new Promise<IntakeResult>((resolve, reject) => {
      this.queue.push({ raw, source, arrival, resolve, reject });
      this.pump();
    });
  }

  /** Passed through: quarantine is already the one-message fallback. */
  quarantine(raw: Buffer, source: IntakeSource, error: unknown): Promise<IntakeResult> {
    return this.inner.quarantine(raw, source, error);
  }

  /** A caller that already has several messages gives them straight to the inner handler. */
  handleGroup(items: readonly { raw: Buffer; source: IntakeSource; arrival?: IntakeArrival }[]): Promise<(IntakeResult | null)[]> {
    return this.inner.handleGroup(items);
  }

  /** Starts commits while there is a free slot and something waiting. */
  private pump(): void {
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      const batch = this.nextBatch();
      this.running += 1;
      void this.commit(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  /** Up to maxGroup waiting messages in arrival order, at most one of them large; taken off the queue. */
  private nextBatch(): Waiting[] {
    const batch: Waiting[] = [];
    let large = false;
    for (let i = 0; i < this.queue.length && batch.length < this.maxGroup;) {
      const w = this.queue[i]!;
      if (w.raw.length >= this.largeBytes) {
        if (large) {
          i += 1;
          continue;
        }
        large = true;
      }
      batch.push(w);
      this.queue.splice(i, 1);
    }
    return batch;
  }

  /** Never rejects: every outcome goes to the caller it belongs to. */
  private async commit(batch: readonly Waiting[]): Promise<void> {
    const results = await tryGroup(this.inner, batch.map((w) => ({ raw: w.raw, source: w.source, ...(w.arrival ? { arrival: w.arrival } : {}) })),
      (error) => this.onGroupFailed?.(error, batch.length));
    // Committed ones are answered at once; what the group did not take is then handled alone, in
    // arrival order (a duplicate inside the group meets the copy just stored and is a duplicate).
    const alone: Waiting[] = [];
    batch.forEach((w, i) => {
      const result = results[i];
      if (result) w.resolve(result);
      else alone.push(w);
    });
    for (const w of alone) {
      try {
        w.resolve(await this.inner.handle(w.raw, w.source, w.arrival));
      } catch (error) {
        w.reject(error);
      }
    }
  }
}
