// IMAP intake for one configured mailbox (imapflow): catches up from the stored cursor on
// connect, then waits in IDLE (or polls where the server has no IDLE) and hands each message's
// raw bytes to the IntakeHandler, several at once in one transaction where the handler offers
// handleGroup. I/O: one IMAP connection, the handler, the cursor store.
// Acknowledgement (\Seen, move to the processed folder, cursor) happens only after the handler
// committed, so dying at any instant loses nothing; a replay is a duplicate the handler absorbs.
import { EventEmitter } from 'node:events';
import { ImapFlow } from 'imapflow';
import type { Logger } from '../log/logger.js';
import { isTemporaryIntakeError } from './intake-errors.js';
import { tryGroup } from './group-commit.js';
import type { IntakeHandler, IntakeSource, MailboxCursorStore } from './intake-types.js';

export interface ImapIntakeOptions {
  /** Configured mailbox name (e.g. "support"); with the folder it names the cursor and IntakeSource.mailbox. */
  account: string;
  host: string;
  port: number;
  secure: boolean;
  user: string;
  pass: string;
  folder: string;
  processedFolder: string;
  quarantineFolder: string;
  logger: Logger;
  handler: IntakeHandler;
  cursors: MailboxCursorStore;
  /** Non-temporary failures of one message before it is quarantined. */
  maxAttempts: number;
  /** Messages per FETCH (one UID set per FETCH). Default 100. */
  batchSize?: number;
  /** Transactions at once within a batch (a message or a group each). Default 8. */
  concurrency?: number;
  /**
   * Messages committed together in one transaction when the handler offers handleGroup (a message
   * the group could not take is then handled alone). Default 20; 1: each message its own transaction.
   */
  groupSize?: number;
  /**
   * Quiet time before imapflow enters IDLE after our last command. imapflow's default is 15 s,
   * which would leave new mail unnoticed that long after every batch. Default 200 ms.
   */
  idleDelayMs?: number;
  /**
   * How often to look for new mail when the server has no IDLE. With IDLE a sweep still runs
   * every 10× this interval, in case a notification was lost. Default 30 s.
   */
  pollIntervalMs?: number;
  /** Backoff for reconnects and for retries after a temporary failure. Default 1 s doubling to 60 s. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface ImapIntakeEvents {
  connected: [{ idle: boolean; uidValidity: number }];
  disconnected: [{ error: unknown }];
  /** One FETCH was issued for `range` (a UID set) holding `count` UIDs. */
  fetch: [{ range: string; count: number }];
  /** Handled/quarantined messages were flagged and moved and the cursor advanced to lastUid. */
  acknowledged: [{ processed: number[]; quarantined: number[]; uidValidity: number; lastUid: number }];
  /** A drain found nothing more to do; the intake is waiting for new mail. */
  'caught-up': [{ uidValidity: number; lastUid: number }];
  /** A temporary failure stopped a batch; the next try is in `retryInMs`. */
  'temporary-failure': [{ error: unknown; retryInMs: number }];
}

type MessageOutcome = { kind: 'processed' } | { kind: 'quarantined' } | { kind: 'temporary'; error: unknown };

const DEFAULT_BATCH_SIZE = 100;
const DEFAULT_GROUP_SIZE = 20;
const DEFAULT_IDLE_DELAY_MS = 200;
const DEFAULT_POLL_INTERVAL_MS = 30_000;
const IDLE_SWEEP_FACTOR = 10;
const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 };

/** Sorted UIDs as a compact IMAP set: [1,2,3,7,9,10] → "1:3,7,9:10". */
export function uidSet(uids: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let prev: number | undefined;
  for (const uid of uids) {
    if (start !== undefined && prev !== undefined && uid === prev + 1) {
      prev = uid;
      continue;
    }
    if (start !== undefined && prev !== undefined) parts.push(start === prev ? `${start}` : `${start}:${prev}`);
    start = uid;
    prev = uid;
  }
  if (start !== undefined && prev !== undefined) parts.push(start === prev ? `${start}` : `${start}:${prev}`);
  return parts.join(',');
}

/** A batch FETCHed and its groups started (launchBatch); finishBatch acknowledges it once they settle. */
interface LaunchedBatch {
  uids: number[];
  /** The FETCH stopped before its end (stopping, a temporary failure, a missing body). */
  stoppedEarly: boolean;
  /** Every started message's outcome, in UID order. */
  outcomes: Promise<{ uid: number; outcome: MessageOutcome }[]>;
}

export class ImapIntake extends EventEmitter<ImapIntakeEvents> {
  readonly mailbox: string;
  private readonly options: ImapIntakeOptions;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly groupSize: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private client: ImapFlow | null = null;
  private stopping = true;
  private draining: Promise<void> | null = null;
  private drainAgain = false;
  private connectFailures = 0;
  private temporaryFailures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;

  constructor(options: ImapIntakeOptions) {
    super();
    if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${options.maxAttempts}`);
    }
    this.options = options;
    this.mailbox = `${options.account}/${options.folder}`;
    this.log = options.logger.child({ intake: 'imap', mailbox: this.mailbox });
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.groupSize = options.handler.handleGroup ? Math.max(1, options.groupSize ?? DEFAULT_GROUP_SIZE) : 1;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /** Resolves after the first connection attempt (failures are retried in the background). */
  async start(): Promise<void> {
    if (!this.stopping) return;
    this.stopping = false;
    await this.connect();
  }

  /** Finishes the message in hand, acknowledges what committed, logs out and stops all timers. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearTimers();
    await this.draining?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (!client) return;
    try {
      await client.logout();
    } catch (error) {
      this.log.debug({ err: error }, 'logout failed, closing the connection');
      client.close();
    }
  }

  /** Looks for new mail now (also what IDLE notifications, polls and retries call). */
  requestDrain(): Promise<void> {
    // While backing off after a temporary failure, new-mail notifications must not turn into
    // immediate retries against a database that is down; the retry timer drains.
    if (this.stopping || !this.client || this.retryTimer) return Promise.resolve();
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    const client = this.client;
    this.draining = (async () => {
      try {
        do {
          this.drainAgain = false;
          const outcome = await this.drainOnce(client);
          if (outcome === 'temporary') break;
        } while (this.drainAgain && !this.stopping && this.client === client);
      } catch (error) {
        // A lost connection is retried by the 'close' handler; anything else by the retry timer.
        this.log.warn({ err: error }, 'IMAP intake pass failed');
        if (this.client === client && client.usable) this.scheduleRetry(error);
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  private async connect(): Promise<void> {
    if (this.stopping) return;
    const o = this.options;
    const pollIntervalMs = o.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    const client = new ImapFlow({
      host: o.host,
      port: o.port,
      secure: o.secure,
      auth: { user: o.user, pass: o.pass },
      logger: o.logger.child({ component: 'imapflow', mailbox: this.mailbox }),
      // imapflow starts IDLE only after autoIdleDelay of quiet (15 s by default); our commands
      // all run under a mailbox lock, which already keeps IDLE out between them, so a short
      // delay costs nothing and new mail is noticed within a moment of each batch.
      autoIdleDelay: o.idleDelayMs ?? DEFAULT_IDLE_DELAY_MS,
      // Restarting IDLE now and then keeps NAT and servers' idle timers happy; on servers
      // without IDLE this is imapflow's NOOP poll interval (EXISTS arrives with the NOOP).
      maxIdleTime: pollIntervalMs,
      missingIdleCommand: 'NOOP',
    });
    client.on('error', (error: unknown) => this.log.warn({ err: error }, 'IMAP connection error'));
    client.on('close', () => this.onClose(client));
    client.on('exists', () => void this.requestDrain());
    try {
      await client.connect();
      await this.ensureFolders(client);
      const opened = await client.mailboxOpen(o.folder);
      if (this.stopping) {
        await client.logout().catch(() => client.close());
        return;
      }
      this.client = client;
      this.connectFailures = 0;
      const idle = client.capabilities.has('IDLE');
      // With IDLE the sweep is a safety net; without it, it is how new mail is found.
      this.pollTimer = setInterval(() => void this.requestDrain(), idle ? pollIntervalMs * IDLE_SWEEP_FACTOR : pollIntervalMs);
      this.pollTimer.unref();
      this.log.info({ idle, uidValidity: Number(opened.uidValidity) }, 'IMAP intake connected');
      this.emit('connected', { idle, uidValidity: Number(opened.uidValidity) });
    } catch (error) {
      this.log.warn({ err: error }, 'IMAP connect failed');
      client.close();
      if (this.client !== client) this.scheduleReconnect(error);
      return;
    }
    void this.requestDrain();
  }

  private async ensureFolders(client: ImapFlow): Promise<void> {
    // CREATE answers ALREADYEXISTS for an existing folder, which imapflow reports as created: false.
    for (const folder of [this.options.processedFolder, this.options.quarantineFolder]) {
      await client.mailboxCreate(folder);
    }
  }

  private onClose(client: ImapFlow): void {
    if (this.client !== client) return;
    this.client = null;
    this.clearTimers();
    if (this.stopping) return;
    this.log.warn('IMAP connection closed');
    this.emit('disconnected', { error: null });
    this.scheduleReconnect(null);
  }

  private scheduleReconnect(error: unknown): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.delayFor(this.connectFailures);
    this.connectFailures += 1;
    if (error) this.emit('disconnected', { error });
    this.log.info({ retryInMs: delay }, 'IMAP reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  private scheduleRetry(error: unknown): void {
    if (this.stopping || this.retryTimer) return;
    const delay = this.delayFor(this.temporaryFailures);
    this.temporaryFailures += 1;
    this.emit('temporary-failure', { error, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.requestDrain();
    }, delay);
  }

  private delayFor(failures: number): number {
    return Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(failures, 30));
  }

  private clearTimers(): void {
    for (const timer of [this.reconnectTimer, this.retryTimer, this.pollTimer]) {
      if (timer) clearTimeout(timer);
    }
    this.reconnectTimer = null;
    this.retryTimer = null;
    this.pollTimer = null;
  }

  /** One pass: every message above the cursor, in UID batches. */
  private async drainOnce(client: ImapFlow): Promise<'done' | 'temporary'> {
    const lock = await client.getMailboxLock(this.options.folder);
    try {
      if (!client.mailbox) throw new Error(`mailbox ${this.options.folder} is not open`);
      const uidValidity = Number(client.mailbox.uidValidity);
      const cursor = await this.options.cursors.get(this.mailbox);
      let lastUid = 0;
      if (cursor && cursor.uidValidity === uidValidity) {
        lastUid = cursor.lastUid;
      } else if (cursor) {
        // Old UIDs mean nothing now: start from the beginning; the handler dedups by
        // Message-ID and content hash, so what was already stored is recognised.
        this.log.warn({ previous: cursor.uidValidity, uidValidity }, 'UIDVALIDITY changed, rescanning the folder');
        await this.options.cursors.set(this.mailbox, { uidValidity, lastUid: 0 });
      }
      const found = await client.search({ uid: `${lastUid + 1}:*` }, { uid: true });
      // "n:*" also matches the highest UID when it is below n.
      const pending = (found || []).filter((uid) => uid > lastUid).sort((a, b) => a - b);
      // Two batches overlap: the next is fetched, understood and its groups started while the
      // one before it commits; that one is then acknowledged (the connection is free again) and
      // moves the cursor. Outcomes still settle in UID order.
      let previous: LaunchedBatch | null = null;
      let temporary: unknown = null;
      for (let i = 0; i < pending.length && !this.stopping && temporary === null && !previous?.stoppedEarly; i += this.batchSize) {
        let launched: LaunchedBatch;
        try {
          launched = await this.launchBatch(client, pending.slice(i, i + this.batchSize), uidValidity);
        } catch (error) {
          // The batch before it still settles (its messages are fetched again and recognised next pass).
          await previous?.outcomes.catch(() => undefined);
          throw error;
        }
        if (previous) ({ lastUid, temporary } = await this.finishBatch(client, previous, uidValidity, lastUid));
        previous = launched;
      }
      if (previous) {
        // After a temporary failure the batch behind it only acknowledges what it committed; the cursor stays.
        const finished = await this.finishBatch(client, previous, uidValidity, lastUid, temporary === null);
        lastUid = finished.lastUid;
        temporary ??= finished.temporary;
      }
      if (temporary !== null) {
        this.scheduleRetry(temporary);
        return 'temporary';
      }
      this.temporaryFailures = 0;
      if (!this.stopping) this.emit('caught-up', { uidValidity, lastUid });
      return 'done';
    } finally {
      lock.release();
    }
  }

  /**
   * FETCHes a batch and starts its groups: up to `concurrency` transactions at once, each a message
   * or a group of up to `groupSize` (handleGroup); the handler talks to the database, not to this
   * connection, and imapflow holds the next FETCH response until we ask for it. Resolves when the
   * FETCH is done (the connection is free), not when the groups commit.
   */
  private async launchBatch(client: ImapFlow, uids: number[], uidValidity: number): Promise<LaunchedBatch> {
    const range = uidSet(uids);
    this.emit('fetch', { range, count: uids.length });
    const inFlight: Promise<{ uid: number; outcome: MessageOutcome }[]>[] = [];
    const settled: { uid: number; outcome: MessageOutcome }[] = [];
    let stoppedEarly = false;
    let group: { raw: Buffer; source: IntakeSource; arrivedAt: Date | null }[] = [];
    const launchGroup = () => {
      if (group.length) inFlight.push(this.handleGroup(group));
      group = [];
    };
    const settleOldest = async () => {
      const first = inFlight.shift();
      if (first) settled.push(...(await first));
    };
    try {
      for await (const message of client.fetch(range, { uid: true, source: true, internalDate: true }, { uid: true })) {
        if (this.stopping) {
          stoppedEarly = true;
          break;
        }
        if (!message.source) {
          // Should not happen; retrying later is safer than skipping past the message.
          launchGroup();
          while (inFlight.length) await settleOldest();
          settled.push({ uid: message.uid, outcome: { kind: 'temporary', error: new Error(`FETCH returned no source for UID ${message.uid}`) } });
          stoppedEarly = true;
          break;
        }
        const source: IntakeSource = { kind: 'imap', mailbox: this.mailbox, uidValidity, uid: message.uid, envelopeRecipients: [] };
        const arrivedAt = message.internalDate instanceof Date ? message.internalDate : null;
        group.push({ raw: message.source, source, arrivedAt });
        if (group.length >= this.groupSize) launchGroup();
        if (inFlight.length >= this.concurrency) await settleOldest();
        if (settled.some((x) => x.outcome.kind === 'temporary')) {
          stoppedEarly = true;
          break;
        }
      }
      if (!stoppedEarly) launchGroup();
    } catch (error) {
      // The FETCH failed (the connection dropped): what was started still settles before this fails the pass.
      await Promise.allSettled(inFlight);
      throw error;
    }
    const outcomes = (async () => {
      while (inFlight.length) await settleOldest();
      return settled;
    })();
    return { uids, stoppedEarly, outcomes };
  }

  /**
   * Waits for a launched batch's groups, acknowledges what committed (to the processed or
   * quarantine folder) and moves the cursor over the unbroken prefix. `advance` false: a batch
   * before it failed, so the cursor stays where it is.
   */
  private async finishBatch(
    client: ImapFlow, batch: LaunchedBatch, uidValidity: number, cursorUid: number, advance = true,
  ): Promise<{ lastUid: number; temporary: unknown }> {
    const processed: number[] = [];
    const quarantined: number[] = [];
    let temporary: unknown = null;
    let stoppedEarly = batch.stoppedEarly;
    let lastUid = cursorUid;
    let contiguous = advance;
    for (const { uid, outcome } of await batch.outcomes) {
      if (outcome.kind === 'temporary') {
        temporary ??= outcome.error;
        contiguous = false;
        stoppedEarly = true;
        continue;
      }
      // Committed: acknowledge it even after a temporary failure; the cursor only moves over the unbroken prefix.
      (outcome.kind === 'processed' ? processed : quarantined).push(uid);
      if (contiguous) lastUid = uid;
    }
    // UIDs the FETCH did not return were expunged meanwhile; a complete batch covers them.
    const last = batch.uids[batch.uids.length - 1];
    if (advance && !stoppedEarly && last !== undefined) lastUid = Math.max(lastUid, last);
    await this.acknowledge(client, processed, this.options.processedFolder);
    await this.acknowledge(client, quarantined, this.options.quarantineFolder);
    if (lastUid > cursorUid) {
      await this.options.cursors.set(this.mailbox, { uidValidity, lastUid });
    }
    if (processed.length || quarantined.length || lastUid > cursorUid) {
      this.emit('acknowledged', { processed, quarantined, uidValidity, lastUid });
    }
    return { lastUid, temporary };
  }

  /** Only ever called with UIDs whose handling committed. */
  private async acknowledge(client: ImapFlow, uids: number[], folder: string): Promise<void> {
    if (!uids.length) return;
    const range = uidSet(uids);
    await client.messageFlagsAdd(range, ['\\Seen'], { uid: true });
    await client.messageMove(range, folder, { uid: true });
  }

  /** A group in one transaction where the handler can; what it could not take, one by one. */
  private async handleGroup(items: readonly { raw: Buffer; source: IntakeSource; arrivedAt: Date | null }[]): Promise<{ uid: number; outcome: MessageOutcome }[]> {
    const uidOf = (source: IntakeSource) => source.uid ?? 0;
    const together = await tryGroup(this.options.handler, items.map((x) => ({ raw: x.raw, source: x.source, ...(x.arrivedAt ? { arrival: { at: x.arrivedAt } } : {}) })),
      (error) => this.log.warn({ err: error }, 'group handling failed; handling the messages one by one'));
    const out: { uid: number; outcome: MessageOutcome }[] = [];
    for (const [i, item] of items.entries()) {
      const result = together[i];
      const outcome: MessageOutcome = result
        ? { kind: result.status === 'quarantined' ? 'quarantined' : 'processed' }
        : await this.handleMessage(item.raw, item.source, item.arrivedAt);
      out.push({ uid: uidOf(item.source), outcome });
      // The batch stops at a temporary failure; the rest are fetched again on the retry.
      if (outcome.kind === 'temporary') break;
    }
    return out;
  }

  private async handleMessage(raw: Buffer, source: IntakeSource, arrivedAt: Date | null): Promise<MessageOutcome> {
    const log = this.log.child({ uid: source.uid, uidValidity: source.uidValidity });
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt += 1) {
      try {
        const result = await this.options.handler.handle(raw, source, arrivedAt ? { at: arrivedAt } : undefined);
        // The handler may itself quarantine (oversize, unparseable): file it with the quarantined ones.
        return { kind: result.status === 'quarantined' ? 'quarantined' : 'processed' };
      } catch (error) {
        if (isTemporaryIntakeError(error)) {
          log.warn({ err: error }, 'temporary failure, will retry the batch later');
          return { kind: 'temporary', error };
        }
        lastError = error;
        log.error({ err: error, attempt, maxAttempts: this.options.maxAttempts }, 'handling the message failed');
      }
    }
    try {
      await this.options.handler.quarantine(raw, source, lastError);
      log.warn({ err: lastError }, 'message quarantined');
      return { kind: 'quarantined' };
    } catch (error) {
      // A message that can be neither handled nor kept must stay in the folder: treat it as
      // temporary so the batch stops here and is retried, rather than losing it.
      log.error({ err: error }, 'quarantining the message failed');
      return { kind: 'temporary', error };
    }
  }
}
