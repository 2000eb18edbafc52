// Understanding off the event loop: a small, long-lived pool of worker threads runs
// parseMessageSync (and understandParsed, for `understand`) under a time budget, so one pathological message cannot stop the SMTP and IMAP
// intakes or the outbox. A message over budget is rejected with UnderstandTimeoutError (the
// handler quarantines it) and its thread is terminated and replaced. I/O: worker threads only.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CasemailSettings } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import { understandingOptions, type Understanding, type UnderstandingOptions } from '../threading/understanding.js';
import { TemporaryIntakeError } from './intake-types.js';
import type { UnderstandReply, UnderstandRequest, UnderstandWorkerData } from './understand-worker.js';
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

interface Task {
  op: UnderstandRequest['op'];
  raw: Buffer;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task: { id: number; task: Task; timer: NodeJS.Timeout } | null;
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

  private run(raw: Buffer, op: Task['op']): Promise<unknown> {
    if (this.closed) return Promise.reject(new TemporaryIntakeError('understanding pool is shut down'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ op, raw, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates the threads; queued and running messages fail as temporary (their senders retry). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new TemporaryIntakeError('understanding pool is shutting down');
    for (const task of this.queue.splice(0)) task.reject(error);
    await Promise.all(this.slots.map(async (slot) => {
      if (slot.task) {
        clearTimeout(slot.task.timer);
        slot.task.task.reject(error);
        slot.task = null;
      }
      await slot.worker.terminate();
    }));
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerFile, {
      workerData: { parseOptions: this.options.parseOptions ?? {}, understanding: this.options.understanding ?? null } satisfies UnderstandWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb ?? 1024 },
    });
    // Idle threads do not keep the process alive; a running task's timer does.
    worker.unref();
    const slot: Slot = { worker, ready: false, task: null };
    worker.on('message', (reply: UnderstandReply) => this.onReply(slot, reply));
    worker.on('error', (error) => this.onDeath(slot, error));
    worker.on('exit', (code) => this.onDeath(slot, new Error(`understanding thread exited with code ${code}`)));
    return slot;
  }

  private onReply(slot: Slot, reply: UnderstandReply): void {
    if ('ready' in reply) {
      slot.ready = true;
      this.startFailures = 0;
      this.dispatch();
      return;
    }
    const running = slot.task;
    if (!running || running.id !== reply.id) return;
    clearTimeout(running.timer);
    slot.task = null;
    if (reply.ok) running.task.resolve(reply.result);
    else running.task.reject(new Error(reply.error));
    this.dispatch();
  }

  /** A thread that died (out of memory, a crash) fails its message alone and is replaced. */
  private onDeath(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0 || this.closed || this.broken) return;
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      // A thread that cannot even load (a broken install) is no message's fault: say so, and let
      // every message be retried later (451, IMAP retry) rather than quarantined.
      this.broken = new TemporaryIntakeError(`understanding threads cannot start: ${error.message}`);
      this.options.logger?.error({ err: error }, 'understanding threads cannot start; messages are refused as temporary failures');
      for (const task of this.queue.splice(0)) task.reject(this.broken);
      slot.worker.removeAllListeners();
      slot.worker.on('error', () => {});
      return;
    }
    this.options.logger?.warn({ err: error }, 'understanding thread died; replacing it');
    this.replace(index, new Error(`understanding failed: ${error.message}`));
  }

  private replace(index: number, error: Error): void {
    const slot = this.slots[index]!;
    if (slot.task) {
      clearTimeout(slot.task.timer);
      slot.task.task.reject(error);
      slot.task = null;
    }
    slot.worker.removeAllListeners();
    // Listen for errors during termination too: an 'error' event nobody listens to ends the process.
    slot.worker.on('error', () => {});
    void slot.worker.terminate();
    this.replaced += 1;
    this.slots[index] = this.spawn();
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const [index, slot] of this.slots.entries()) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.task) continue;
      // The first thread takes whatever is next; the others pass over large messages, so a large
      // message is understood only by the first thread and one at a time: parsing one costs a few
      // times its size in that thread, and a thread's allocator keeps what it once held.
      const next = index === 0 ? 0 : this.queue.findIndex((t) => t.raw.length < this.largeBytes);
      if (next < 0) continue;
      const task = this.queue.splice(next, 1)[0]!;
      const id = this.nextId++;
      const timer = setTimeout(() => this.onTimeout(slot, id), this.options.timeoutMs);
      slot.task = { id, task, timer };
      const raw = forThread(task.raw);
      slot.worker.postMessage({ id, op: task.op, raw } satisfies UnderstandRequest, raw.buffer instanceof ArrayBuffer ? [raw.buffer] : []);
    }
  }

  /** Over budget: the thread may be in an endless loop, so it is terminated, not asked. */
  private onTimeout(slot: Slot, id: number): void {
    const index = this.slots.indexOf(slot);
    if (index < 0 || slot.task?.id !== id) return;
    this.options.logger?.warn({ timeoutMs: this.options.timeoutMs, bytes: slot.task.task.raw.length }, 'understanding over budget; terminating its thread');
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
