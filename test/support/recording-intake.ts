// In-memory IntakeHandler and MailboxCursorStore for the intake adapter tests. They record every
// call, dedup like the real handler (Message-ID + content hash) and can be told to fail, so the
// retry, quarantine and 451 paths can be driven. The real database handler is covered by the
// end-to-end tests; these doubles only stand in for it at the adapter boundary.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  TemporaryIntakeError,
  type IntakeHandler,
  type IntakeResult,
  type IntakeSource,
  type MailboxCursorStore,
} from '../../src/ingest/intake-types.js';

export interface HandledCall {
  raw: Buffer;
  source: IntakeSource;
  result: IntakeResult;
}

export interface QuarantinedCall {
  raw: Buffer;
  source: IntakeSource;
  error: unknown;
}

/** Makes matching calls fail: `temporary` throws TemporaryIntakeError, `permanent` a plain Error. */
export interface FailureRule {
  kind: 'temporary' | 'permanent';
  /** How many matching calls fail; unlimited when omitted. */
  times?: number;
  match?: (raw: Buffer, source: IntakeSource) => boolean;
}

const DEFAULT_WAIT_MS = 10_000;

export function headerOf(raw: Buffer, name: string): string | null {
  const head = raw.toString('latin1').split(/\r?\n\r?\n/, 1)[0] ?? '';
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return match?.[1]?.trim() ?? null;
}

/** Resolves when `emitter` emits `event` and `predicate` (checked now and on each event) holds. */
export function waitUntil(
  emitter: EventEmitter,
  event: string,
  predicate: () => boolean,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!predicate()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, check);
    };
    emitter.on(event, check);
    check();
  });
}

export class RecordingHandler extends EventEmitter implements IntakeHandler {
  /** Every call to handle(), in order, including the ones that failed. */
  readonly calls: { raw: Buffer; source: IntakeSource }[] = [];
  readonly handled: HandledCall[] = [];
  readonly quarantined: QuarantinedCall[] = [];
  private readonly rules: FailureRule[] = [];
  private readonly seen = new Map<string, string>();
  private gate: Promise<void> | null = null;
  private nextId = 1;

  failWhen(rule: FailureRule): void {
    this.rules.push({ ...rule });
  }

  /** Holds every handle() call (after recording it) until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((resolve) => { release = resolve; });
    return () => {
      this.gate = null;
      release();
    };
  }

  async handle(raw: Buffer, source: IntakeSource): Promise<IntakeResult> {
    this.calls.push({ raw, source });
    this.emit('call');
    if (this.gate) await this.gate;
    const rule = this.rules.find((r) => (r.times === undefined || r.times > 0) && (!r.match || r.match(raw, source)));
    if (rule) {
      if (rule.times !== undefined) rule.times -= 1;
      const error = rule.kind === 'temporary'
        ? new TemporaryIntakeError('simulated: database unavailable')
        : new Error('simulated: handling this message failed');
      this.emit('failure');
      throw error;
    }
    const key = `${headerOf(raw, 'Message-ID') ?? ''}|${createHash('sha256').update(raw).digest('hex')}`;
    const existing = this.seen.get(key);
    const result: IntakeResult = existing
      ? { status: 'duplicate', messageId: existing, caseNumbers: [], reason: null }
      : { status: 'processed', messageId: `m${this.nextId++}`, caseNumbers: [], reason: null };
    if (!existing) this.seen.set(key, result.messageId);
    this.handled.push({ raw, source, result });
    this.emit('handled');
    return result;
  }

  async quarantine(raw: Buffer, source: IntakeSource, error: unknown): Promise<IntakeResult> {
    this.quarantined.push({ raw, source, error });
    this.emit('handled');
    return { status: 'quarantined', messageId: `q${this.nextId++}`, caseNumbers: [], reason: String(error) };
  }

  /** Subjects of the messages handled (not failed, not quarantined), in order. */
  subjects(): string[] {
    return this.handled.map((h) => headerOf(h.raw, 'Subject') ?? '');
  }

  waitForHandled(count: number, timeoutMs?: number): Promise<void> {
    return waitUntil(this, 'handled', () => this.handled.length + this.quarantined.length >= count, `${count} handled message(s)`, timeoutMs);
  }

  waitForCalls(count: number, timeoutMs?: number): Promise<void> {
    return waitUntil(this, 'call', () => this.calls.length >= count, `${count} handle() call(s)`, timeoutMs);
  }
}

export class MemoryCursorStore extends EventEmitter implements MailboxCursorStore {
  readonly cursors = new Map<string, { uidValidity: number; lastUid: number }>();
  readonly writes: { mailbox: string; uidValidity: number; lastUid: number }[] = [];

  async get(mailbox: string): Promise<{ uidValidity: number; lastUid: number } | null> {
    const cursor = this.cursors.get(mailbox);
    return cursor ? { ...cursor } : null;
  }

  async set(mailbox: string, cursor: { uidValidity: number; lastUid: number }): Promise<void> {
    this.cursors.set(mailbox, { ...cursor });
    this.writes.push({ mailbox, ...cursor });
    this.emit('set');
  }
}
