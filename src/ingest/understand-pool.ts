// Understanding off the event loop: a small, long-lived pool of worker threads runs
// parseMessageSync (and understandParsed, for `understand`) under a time budget, so one pathological message cannot stop the SMTP and IMAP
// intakes or the outbox. A message over budget is rejected with UnderstandTimeoutError (the
// handler quarantines it) and its thread is terminated and replaced. I/O: worker threads only.
// Speed: messages that queue while the threads are busy go to a thread together, as one batch
// with one reply: on a busy 2-core machine each hand-over woke a thread and then the event loop
// again, and a message at a time cost the 5 KB IMAP intake ~0.5 ms of CPU per message more than
// understanding it in-process. Each message of a batch still has its own budget: the thread says
// in shared memory which message it is on and since when (understand-protocol.ts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CasemailSettings } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import { understandingOptions, type Understanding, type UnderstandingOptions } from '../threading/understanding.js';
import { collectBeforeLargeMessage } from './full-collection.js';
import { TemporaryIntakeError } from './intake-types.js';
import {
  PROGRESS_AT, PROGRESS_BYTES, PROGRESS_SINCE, PROGRESS_SPAN, sharedClockMs, type UnderstandReply, type UnderstandRequest, type UnderstandWorkerData,
} from './understand-protocol.js';
import type { ParseMessageOptions } from './parse-message.js';

export interface UnderstandPoolOptions {
  /** Budget of one message, counted from the moment a thread takes it (queueing is not counted). */
  timeoutMs: number;
  /** Threads kept running (default 2). */
  workers?: number;
  /** Passed through to parseMessageSync (the MIME caps). */
  parseOptions?: ParseMessageOptions;
  /** What `understand` runs understandParsed with; without it `understand` is refused. */
  understanding?: UnderstandingOptions;
  /** Messages of at least this many bytes are understood one at a time, by the first thread (default 8 MiB). */
  largeBytes?: number;
  /** Heap limit of each thread: a message that needs more fails alone instead of the process (default 1024 MB). */
  maxHeapMb?: number;
  /** Runs before a large message goes to its thread (default collectBeforeLargeMessage; null: nothing). */
  beforeLargeMessage?: (() => void) | null;
  logger?: Logger;
  /** The compiled worker module; default: understand-worker.js next to this module (or under dist/ when run from sources). */
  workerFile?: URL;
}

export class UnderstandTimeoutError extends Error {
  readonly code = 'understand_timeout';
  constructor(readonly timeoutMs: number) {
    super(`understanding exceeded ${timeoutMs} ms`);
    this.name = 'UnderstandTimeoutError';
  }
}

const MAX_START_FAILURES = 3;
const DEFAULT_LARGE_BYTES = 8 * 1024 * 1024;
/** At most this many messages, and (after the first) this many bytes, go to a thread at once: a batch's answers wait for its last message. */
const MAX_BATCH = 16;
const MAX_BATCH_BYTES = 1024 * 1024;

interface Task {
  op: UnderstandRequest['op'];
  raw: Buffer;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

/** Messages handed to one thread in one request. */
interface Batch {
  id: number;
  tasks: Task[];
  timer: NodeJS.Timeout;
  /** When it was posted (sharedClockMs): the first message's start until the thread says otherwise. */
  postedAt: number;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The thread's progress through its batch (understand-protocol.ts). */
  progress: BigInt64Array;
  batch: Batch | null;
}

/** The compiled worker: next to this module, or in dist/ when this module runs from the TypeScript sources (tests). */
function defaultWorkerFile(): URL {
  const sibling = new URL('./understand-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  const built = new URL('../../dist/src/ingest/understand-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`understand-worker.js not found next to ${fileURLToPath(import.meta.url)} nor in dist/: run \`npm run build\``);
}

/** Attachment contents cross the thread boundary as Uint8Array; the rest of the code expects Buffers. */
function restoreBuffers(parsed: ParsedMessage): ParsedMessage {
  for (const a of parsed.attachments) {
    const c = a.content as Uint8Array;
    if (!Buffer.isBuffer(c)) a.content = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
  return parsed;
}

/**
 * The bytes as the thread gets them. Bytes in shared memory (the SMTP intake's large messages) are
 * shared: the thread reads the caller's bytes, no copy. Others are copied once and the copy handed
 * over (transferred) rather than cloned: a 25 MB message costs 25 MB here, not 50.
 */
function forThread(raw: Buffer): Uint8Array {
  if (raw.buffer instanceof SharedArrayBuffer) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return copy;
}

export class UnderstandPool {
  private readonly options: UnderstandPoolOptions;
  private readonly workerFile: URL;
  private readonly slots: Slot[] = [];
  private readonly largeBytes: number;
  private readonly queue: Task[] = [];
  private nextId = 1;
  private dispatchPending = false;
  private readonly readyWaiters: (() => void)[] = [];
  private readonly beforeLargeMessage: (() => void) | null;
  private closed = false;
  /** Threads in a row that died before they were ready; past MAX_START_FAILURES the pool is broken. */
  private startFailures = 0;
  private broken: Error | null = null;
  /** Threads terminated for running over budget or dying; each was replaced. */
  replaced = 0;

  constructor(options: UnderstandPoolOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    this.options = options;
    this.workerFile = options.workerFile ?? defaultWorkerFile();
    this.largeBytes = options.largeBytes ?? DEFAULT_LARGE_BYTES;
    this.beforeLargeMessage = options.beforeLargeMessage === undefined ? collectBeforeLargeMessage : options.beforeLargeMessage;
    const size = Math.max(1, options.workers ?? 2);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Parses one message in a thread; rejects with UnderstandTimeoutError over budget. */
  async parse(raw: Buffer): Promise<ParsedMessage> {
    return restoreBuffers(await this.run(raw, 'parse') as ParsedMessage);
  }

  /**
   * Parses and understands one message in a thread (understandParsed with the options given at
   * creation); rejects with UnderstandTimeoutError over budget, the budget covering both steps.
   */
  async understand(raw: Buffer): Promise<Understanding> {
    if (!this.options.understanding) throw new Error('this pool was created without understanding options');
    const u = await this.run(raw, 'understand') as Understanding;
    restoreBuffers(u.parsed);
    return u;
  }

  /** Resolves once every thread has loaded and warmed up (messages queue meanwhile; this is for tests and start-up figures). */
  whenReady(): Promise<void> {
    if (this.slots.every((slot) => slot.ready)) return Promise.resolve();
    return new Promise<void>((resolve) => this.readyWaiters.push(resolve));
  }

  private run(raw: Buffer, op: Task['op']): Promise<unknown> {
    if (this.closed) return Promise.reject(new TemporaryIntakeError('understanding pool is shut down'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ op, raw, resolve, reject });
      this.dispatchSoon();
    });
  }

  /** Terminates the threads; queued and running messages fail as temporary (their senders retry). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new TemporaryIntakeError('understanding pool is shutting down');
    for (const task of this.queue.splice(0)) task.reject(error);
    await Promise.all(this.slots.map(async (slot) => {
      if (slot.batch) {
        clearTimeout(slot.batch.timer);
        for (const task of slot.batch.tasks) task.reject(error);
        slot.batch = null;
      }
      await slot.worker.terminate();
    }));
  }

  private spawn(): Slot {
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const worker = new Worker(this.workerFile, {
      workerData: { parseOptions: this.options.parseOptions ?? {}, understanding: this.options.understanding ?? null, progress } satisfies UnderstandWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb ?? 1024 },
    });
    // Idle threads do not keep the process alive; a running batch's timer does.
    worker.unref();
    const slot: Slot = { worker, ready: false, progress: new BigInt64Array(progress), batch: null };
    worker.on('message', (reply: UnderstandReply) => this.onReply(slot, reply));
    worker.on('error', (error) => this.onDeath(slot, error));
    worker.on('exit', (code) => this.onDeath(slot, new Error(`understanding thread exited with code ${code}`)));
    return slot;
  }

  private onReply(slot: Slot, reply: UnderstandReply): void {
    if ('ready' in reply) {
      slot.ready = true;
      this.startFailures = 0;
      if (this.slots.every((s) => s.ready)) for (const resolve of this.readyWaiters.splice(0)) resolve();
      this.dispatch();
      return;
    }
    const batch = slot.batch;
    if (!batch || batch.id !== reply.id) return;
    clearTimeout(batch.timer);
    slot.batch = null;
    for (const [i, task] of batch.tasks.entries()) {
      const r = reply.results[i];
      if (r?.ok) task.resolve(r.result);
      else task.reject(new Error(r ? r.error : 'the understanding thread gave no answer for this message'));
    }
    this.dispatch();
  }

  /** A thread that died (out of memory, a crash) fails the message it was on alone and is replaced. */
  private onDeath(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0 || this.closed || this.broken) return;
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      // A thread that cannot even load (a broken install) is no message's fault: say so, and let
      // every message be retried later (451, IMAP retry) rather than quarantined.
      this.broken = new TemporaryIntakeError(`understanding threads cannot start: ${error.message}`);
      this.options.logger?.error({ err: error }, 'understanding threads cannot start; messages are refused as temporary failures');
      for (const task of this.queue.splice(0)) task.reject(this.broken);
      for (const resolve of this.readyWaiters.splice(0)) resolve();
      slot.worker.removeAllListeners();
      slot.worker.on('error', () => {});
      return;
    }
    this.options.logger?.warn({ err: error }, 'understanding thread died; replacing it');
    this.replace(index, new Error(`understanding failed: ${error.message}`));
    this.dispatch();
  }

  /**
   * Ends the thread of slot `index` and starts another: the message it was on fails with `error`,
   * the rest of its batch goes back to the head of the queue (those it had finished lost their
   * answers with the thread and are understood again).
   */
  private replace(index: number, error: Error): void {
    const slot = this.slots[index]!;
    const batch = slot.batch;
    if (batch) {
      clearTimeout(batch.timer);
      slot.batch = null;
      const on = this.position(slot, batch).index;
      batch.tasks[on]!.reject(error);
      this.queue.unshift(...batch.tasks.filter((_, i) => i !== on));
    }
    slot.worker.removeAllListeners();
    // Listen for errors during termination too: an 'error' event nobody listens to ends the process.
    slot.worker.on('error', () => {});
    void slot.worker.terminate();
    this.replaced += 1;
    this.slots[index] = this.spawn();
  }

  /** Which message of `batch` the slot's thread is on, and since when (sharedClockMs). */
  private position(slot: Slot, batch: Batch): { index: number; since: number } {
    const at = Atomics.load(slot.progress, PROGRESS_AT);
    // Read after `at`: if the thread has moved on meanwhile, this is a later start, so the budget looks less spent, never more.
    const since = Number(Atomics.load(slot.progress, PROGRESS_SINCE));
    if (at / PROGRESS_SPAN !== BigInt(batch.id)) return { index: 0, since: batch.postedAt };
    return { index: Math.min(Number(at % PROGRESS_SPAN), batch.tasks.length - 1), since };
  }

  /** Dispatches once the current turn of the event loop is over, so messages that arrive together are handed over together. */
  private dispatchSoon(): void {
    if (this.dispatchPending) return;
    this.dispatchPending = true;
    setImmediate(() => {
      this.dispatchPending = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.closed) return;
    const idle = this.slots.filter((slot) => slot.ready && !slot.batch);
    for (const [k, slot] of idle.entries()) {
      if (this.queue.length === 0) return;
      // What is queued is shared among the idle threads (up to MAX_BATCH each).
      const tasks = this.takeBatch(slot === this.slots[0], Math.ceil(this.queue.length / (idle.length - k)));
      if (tasks.length > 0) this.post(slot, tasks);
    }
  }

  /**
   * Takes up to `count` queued messages for one thread, in order, of one op. The first thread takes
   * a large message at the head of the queue, alone; every thread passes over the others, so a
   * large message is understood only by the first thread and one at a time: parsing one costs a few
   * times its size in that thread, and a thread's allocator keeps what it once held.
   */
  private takeBatch(first: boolean, count: number): Task[] {
    if (first && this.isLarge(this.queue[0]!)) return this.queue.splice(0, 1);
    const taken: Task[] = [];
    let bytes = 0;
    const limit = Math.min(count, MAX_BATCH);
    for (let i = 0; i < this.queue.length && taken.length < limit;) {
      const t = this.queue[i]!;
      if (this.isLarge(t) || (taken.length > 0 && (t.op !== taken[0]!.op || bytes + t.raw.length > MAX_BATCH_BYTES))) {
        i++;
        continue;
      }
      taken.push(...this.queue.splice(i, 1));
      bytes += t.raw.length;
    }
    return taken;
  }

  private isLarge(task: Task): boolean {
    return task.raw.length >= this.largeBytes;
  }

  private post(slot: Slot, tasks: Task[]): void {
    // An IMAP or pipe message arrives whole: this is the first moment it is known to be large.
    if (this.isLarge(tasks[0]!)) this.beforeLargeMessage?.();
    const id = this.nextId++;
    const batch: Batch = { id, tasks, postedAt: sharedClockMs(), timer: setTimeout(() => this.onTimer(slot, id), this.options.timeoutMs) };
    slot.batch = batch;
    const raws = tasks.map((t) => forThread(t.raw));
    const transfer = raws.flatMap((raw) => (raw.buffer instanceof ArrayBuffer ? [raw.buffer] : []));
    slot.worker.postMessage({ id, op: tasks[0]!.op, raws } satisfies UnderstandRequest, transfer);
  }

  /**
   * A batch's timer: if the message its thread is on has used its budget, the thread may be in an
   * endless loop, so it is terminated, not asked; otherwise the timer waits for the rest of that
   * message's budget.
   */
  private onTimer(slot: Slot, id: number): void {
    const index = this.slots.indexOf(slot);
    const batch = slot.batch;
    if (index < 0 || !batch || batch.id !== id) return;
    const { index: on, since } = this.position(slot, batch);
    const left = since + this.options.timeoutMs - sharedClockMs();
    if (left > 0) {
      batch.timer = setTimeout(() => this.onTimer(slot, id), Math.ceil(left));
      return;
    }
    this.options.logger?.warn({ timeoutMs: this.options.timeoutMs, bytes: batch.tasks[on]!.raw.length }, 'understanding over budget; terminating its thread');
    this.replace(index, new UnderstandTimeoutError(this.options.timeoutMs));
    this.dispatch();
  }
}

/** The pool the service (two threads, sized for a 2-core machine) and the pipe intake (one) use: budget, MIME caps and understanding options from the settings. */
export function createUnderstandPool(settings: CasemailSettings, logger: Logger, workers = 2): UnderstandPool {
  return new UnderstandPool({
    timeoutMs: settings.limits.understandTimeoutMs, workers,
    parseOptions: { maxParts: settings.limits.maxMimeParts, maxDepth: settings.limits.maxMimeDepth },
    understanding: understandingOptions(settings),
    logger: logger.child({ component: 'understand' }),
  });
}
