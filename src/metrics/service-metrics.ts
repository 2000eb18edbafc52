// The service's Prometheus metrics: one prom-client Registry per running service (never the global
// one, so several services in one process keep their own counts). Counters are fed by hooks the
// service wires (intake results, dispatcher outcomes, sweep ticks); the database gauges are read on
// scrape through a short cache. I/O: the database (scrape-time queries) and the wall clock (lag).
import { sql } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/database.js';
import type { IntakeArrival, IntakeHandler, IntakeResult, IntakeSource } from '../ingest/intake-types.js';
import type { Logger } from '../log/logger.js';
import type { SweepResult } from '../schedule/sweep.js';

/** What the dispatcher reports per row (OutboxDispatcherOptions.onOutcome). */
export type DeliveryOutcome = 'sent' | 'retried' | 'failed' | 'released';

/** What the database says on scrape. */
export interface DatabaseSnapshot {
  outbox: { pending: number; failed: number; heldBack: number; oldestDueAgeSeconds: number };
  openCases: { severity: number; open: number; breached: number }[];
}

export interface ServiceMetricsOptions {
  db: Db;
  logger: Logger;
  /** How long one database snapshot serves scrapes (default 5 s): a scrape storm costs one query set. */
  cacheMs?: number;
  /** The service's clock: outbox rows are due at its instants (default the system clock). */
  clock?: () => Date;
  /** Wall clock; lag and the cache run on real time even when the intake runs on a test clock. */
  now?: () => number;
}

/** `work`, or a rejection naming `what` after `ms`: a database that does not answer must not hang a scrape or probe. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const HELD_REASON = /^[a-z][a-z0-9_]{0,39}$/;

/** A label for `source`: the configured IMAP mailbox ("support/INBOX"), else the intake kind. */
export function mailboxLabel(source: IntakeSource): string {
  return source.mailbox ?? source.kind;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly db: Db;
  private readonly log: Logger;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly clock: () => Date;
  private snapshot: { at: number; value: Promise<DatabaseSnapshot> } | null = null;
  private gaugesFailing = false;

  private readonly intakeMessages: Counter<'mailbox' | 'outcome' | 'reason'>;
  private readonly intakeFailures: Counter<'mailbox' | 'kind'>;
  private readonly intakeLag: Histogram<'mailbox'>;
  private readonly deliveries: Counter<'outcome' | 'kind'>;
  private readonly sweepDuration: Histogram<'result'>;
  private readonly sweepCases: Counter<'outcome'>;
  private readonly sweepEvents: Counter<'kind'>;
  private readonly slaBreaches: Counter;
  private readonly leaseHeld: Gauge<'mailbox'>;
  private readonly dependencyErrors: Counter<'dependency'>;

  constructor(opts: ServiceMetricsOptions) {
    this.db = opts.db;
    this.log = opts.logger;
    this.cacheMs = opts.cacheMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.clock = opts.clock ?? (() => new Date());
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.intakeMessages = new Counter({
      name: 'casemail_intake_messages_total', registers, labelNames: ['mailbox', 'outcome', 'reason'],
      help: 'Messages the intake committed, by mailbox (IMAP account/folder, or smtp, pipe) and outcome (processed, held, quarantined, ignored, duplicate); reason is the hold reason for held, else empty.',
    });
    this.intakeFailures = new Counter({
      name: 'casemail_intake_failures_total', registers, labelNames: ['mailbox', 'kind'],
      help: 'Messages the intake could not commit: kind temporary (database down; the sender or mailbox retries), refused (empty message) or error.',
    });
    this.intakeLag = new Histogram({
      name: 'casemail_intake_lag_seconds', registers, labelNames: ['mailbox'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      help: 'Seconds from a message\'s arrival (IMAP INTERNALDATE; for SMTP, the end of DATA) to the commit of its outcome.',
    });
    this.deliveries = new Counter({
      name: 'casemail_outbox_deliveries_total', registers, labelNames: ['outcome', 'kind'],
      help: 'Outbox delivery attempts by outcome (sent, retried: temporary failure, failed: given up) and mail kind.',
    });
    this.sweepDuration = new Histogram({
      name: 'casemail_sweep_duration_seconds', registers, labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      help: 'Duration of one timer sweep tick (all its batches); result ok or error.',
    });
    this.sweepCases = new Counter({
      name: 'casemail_sweep_cases_total', registers, labelNames: ['outcome'],
      help: 'Cases the timer sweep handled, by outcome (acted, skipped: locked or no longer due, failed).',
    });
    this.sweepEvents = new Counter({
      name: 'casemail_sweep_events_total', registers, labelNames: ['kind'],
      help: 'Case events the timer sweep wrote, by kind (sla_warning, sla_breached, reminders, auto-closes).',
    });
    this.slaBreaches = new Counter({
      name: 'casemail_sla_breaches_total', registers,
      help: 'First-response targets breached (sla_breached events written by this process\'s sweep).',
    });
    this.leaseHeld = new Gauge({
      name: 'casemail_mailbox_lease_held', registers, labelNames: ['mailbox'],
      help: 'Whether this instance holds the lease of an IMAP mailbox (1) and consumes it, or stands by (0).',
    });

    this.dependencyErrors = new Counter({
      name: 'casemail_dependency_errors_total', registers, labelNames: ['dependency'],
      help: 'Connections to a dependency the service lost and recovers from by itself: database (a connection of the pool ended: terminated backend, restart, network cut), imap (an IMAP intake connection closed or could not connect).',
    });

    // Gauges read from the database on scrape; all share one cached snapshot. A failed read keeps
    // their last values (and says so below): the rest of the scrape must not fail with the database.
    const snapshot = () => this.databaseSnapshot().catch(() => null);
    new Gauge({
      name: 'casemail_database_gauges_ok', registers, help: '1 when the last read of the database gauges succeeded, 0 when they show older values.',
      async collect() { this.set((await snapshot()) ? 1 : 0); },
    });
    const single = (name: string, help: string, pick: (s: DatabaseSnapshot) => number) => new Gauge({
      name, help, registers,
      async collect() {
        const s = await snapshot();
        if (s) this.set(pick(s));
      },
    });
    single('casemail_outbox_pending', 'Outbox rows waiting to be sent (the outbox depth).', (s) => s.outbox.pending);
    single('casemail_outbox_oldest_due_age_seconds', 'How long the oldest pending row has been due (0 when none is due).', (s) => s.outbox.oldestDueAgeSeconds);
    single('casemail_outbox_failed', 'Outbox rows that failed for good (status failed).', (s) => s.outbox.failed);
    single('casemail_outbox_held_back', 'Automatic mail held back by the per-address hourly limit (never sent).', (s) => s.outbox.heldBack);
    const bySeverity = (name: string, help: string, pick: (c: DatabaseSnapshot['openCases'][number]) => number) => new Gauge({
      name, help, registers, labelNames: ['severity'],
      async collect() {
        const s = await snapshot();
        if (!s) return;
        this.reset();
        for (const c of s.openCases) this.set({ severity: String(c.severity) }, pick(c));
      },
    });
    bySeverity('casemail_open_cases', 'Cases not closed, by severity.', (c) => c.open);
    bySeverity('casemail_open_cases_sla_breached', 'Cases not closed whose first-response target was breached, by severity.', (c) => c.breached);
  }

  /** Whether this instance holds the lease of an IMAP mailbox ("support/INBOX"). */
  recordLease(mailbox: string, held: boolean): void {
    this.leaseHeld.set({ mailbox }, held ? 1 : 0);
  }

  /** One committed intake result; `arrivedAt` in epoch ms. */
  recordIntake(source: IntakeSource, result: IntakeResult, arrivedAt: number): void {
    const mailbox = mailboxLabel(source);
    const reason = result.status === 'held' && result.reason && HELD_REASON.test(result.reason) ? result.reason : result.status === 'held' ? 'other' : '';
    this.intakeMessages.inc({ mailbox, outcome: result.status, reason });
    this.intakeLag.observe({ mailbox }, Math.max(0, (this.now() - arrivedAt) / 1000));
  }

  recordIntakeFailure(source: IntakeSource, kind: 'temporary' | 'refused' | 'error'): void {
    this.intakeFailures.inc({ mailbox: mailboxLabel(source), kind });
  }

  /** A lost connection to `dependency` (the service reconnects by itself). */
  recordDependencyError(dependency: 'database' | 'imap'): void {
    this.dependencyErrors.inc({ dependency });
  }

  /** The dispatcher's per-row outcome; a released row (shutdown) is no delivery attempt. */
  recordDelivery(outcome: DeliveryOutcome, kind: string): void {
    if (outcome === 'released') return;
    this.deliveries.inc({ outcome, kind });
  }

  /** One sweep tick: its batches' results, how long it took, and whether it threw. */
  recordSweep(results: readonly SweepResult[], seconds: number, error: unknown): void {
    this.sweepDuration.observe({ result: error ? 'error' : 'ok' }, seconds);
    for (const r of results) {
      if (r.acted) this.sweepCases.inc({ outcome: 'acted' }, r.acted);
      if (r.skipped) this.sweepCases.inc({ outcome: 'skipped' }, r.skipped);
      if (r.failed) this.sweepCases.inc({ outcome: 'failed' }, r.failed);
      for (const [kind, n] of Object.entries(r.events)) {
        if (n > 0) this.sweepEvents.inc({ kind }, n);
      }
      const breached = r.events.sla_breached ?? 0;
      if (breached > 0) this.slaBreaches.inc(breached);
    }
  }

  /**
   * Wraps the service's handler so every result (and failure) is counted where the intake sees
   * it; the handler itself stays free of metrics.
   */
  countingHandler(inner: IntakeHandler): IntakeHandler {
    const count = async (source: IntakeSource, arrivedAt: number, run: () => Promise<IntakeResult>): Promise<IntakeResult> => {
      try {
        const result = await run();
        this.recordIntake(source, result, arrivedAt);
        return result;
      } catch (err) {
        const code = (err as { code?: string } | null)?.code;
        this.recordIntakeFailure(source, code === 'temporary_intake_failure' ? 'temporary' : code === 'empty_message' ? 'refused' : 'error');
        throw err;
      }
    };
    return {
      handle: (raw: Buffer, source: IntakeSource, arrival?: IntakeArrival) => {
        const arrivedAt = arrival?.at.getTime() ?? this.now();
        return count(source, arrivedAt, () => inner.handle(raw, source, arrival));
      },
      quarantine: (raw: Buffer, source: IntakeSource, error: unknown) => {
        const arrivedAt = this.now();
        return count(source, arrivedAt, () => inner.quarantine(raw, source, error));
      },
      ...(inner.prepare ? { prepare: (raw: Buffer) => inner.prepare!(raw) } : {}),
      // Group commit passes through: each message committed in the group is counted here; one the
      // group left (null) is counted when the intake then hands it to handle.
      ...(inner.handleGroup ? {
        handleGroup: async (items: readonly { raw: Buffer; source: IntakeSource; arrival?: IntakeArrival }[]) => {
          const arrivedAt = items.map((x) => x.arrival?.at.getTime() ?? this.now());
          const results = await inner.handleGroup!(items);
          results.forEach((r, i) => {
            if (r) this.recordIntake(items[i]!.source, r, arrivedAt[i]!);
          });
          return results;
        },
      } : {}),
    };
  }

  /** The Prometheus text exposition. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** The cached database snapshot; a failed read is not cached, so the next scrape tries again. */
  databaseSnapshot(): Promise<DatabaseSnapshot> {
    const now = this.now();
    if (this.snapshot && now - this.snapshot.at < this.cacheMs) return this.snapshot.value;
    const value = withTimeout(readSnapshot(this.db, this.clock()), 2_000, 'the database gauges query');
    const entry = { at: now, value };
    this.snapshot = entry;
    // Logged once per outage, not once per scrape.
    value.then(() => {
      if (this.gaugesFailing) this.log.info('metrics: database gauges readable again');
      this.gaugesFailing = false;
    }, (err: unknown) => {
      if (this.snapshot === entry) this.snapshot = null;
      if (!this.gaugesFailing) this.log.warn({ err }, 'metrics: cannot read the database gauges; their last values are served');
      this.gaugesFailing = true;
    });
    return value;
  }
}

async function readSnapshot(db: Db, now: Date): Promise<DatabaseSnapshot> {
  // One subquery per status, so the partial indexes on pending and held_back rows serve them
  // (failed rows have none: that count reads the outbox, at most once per cache period).
  const outbox = await sql<{ pending: number; failed: number; held_back: number; oldest_due: Date | null }>`
    select (select count(*) from outbox where status = 'pending') as pending,
           (select count(*) from outbox where status = 'failed') as failed,
           (select count(*) from outbox where status = 'held_back') as held_back,
           (select min(next_attempt_at) from outbox where status = 'pending' and next_attempt_at <= ${now}) as oldest_due`.execute(db);
  const cases = await sql<{ severity: number; open: number; breached: number }>`
    select severity, count(*) as open, count(*) filter (where sla_breached_at is not null) as breached
      from cases where state <> 'closed' group by severity order by severity`.execute(db);
  const o = outbox.rows[0];
  const oldest = o?.oldest_due ? new Date(o.oldest_due).getTime() : null;
  return {
    outbox: {
      pending: Number(o?.pending ?? 0), failed: Number(o?.failed ?? 0), heldBack: Number(o?.held_back ?? 0),
      oldestDueAgeSeconds: oldest === null ? 0 : Math.max(0, (now.getTime() - oldest) / 1000),
    },
    openCases: cases.rows.map((r) => ({ severity: Number(r.severity), open: Number(r.open), breached: Number(r.breached) })),
  };
}
