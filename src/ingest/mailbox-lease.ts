// The mailbox lease: several instances share one PostgreSQL, and each configured mailbox is consumed
// by one of them at a time. The holder owns a session advisory lock (keyed by the mailbox) on a
// dedicated connection; PostgreSQL frees it when that connection dies, so a killed holder's
// mailbox is taken over by a standby instance at its next try. The holder checks its connection
// every retry interval and stops the intake at once when the check fails or the socket drops.
// I/O: one dedicated PostgreSQL connection per lease (opened through `connect`), timers, the logger.
import { createHash } from 'node:crypto';
import type { Logger } from '../log/logger.js';

/** What the lease needs of a connection (pg.Client has it). */
export interface LeaseConnection {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

export type LeaseState = 'starting' | 'standby' | 'held' | 'stopped';

/** Who holds a lease, as pg_locks and pg_stat_activity say. */
export interface LeaseHolder {
  pid: number;
  applicationName: string | null;
  clientAddress: string | null;
}

export interface MailboxLeaseOptions {
  /** The mailbox as "<name>/<folder>": the lock key and the log label. */
  mailbox: string;
  /** Opens the dedicated connection (DatabaseHandle.connectDedicated). */
  connect: () => Promise<LeaseConnection>;
  /** How often a standby instance tries to take the lease, and how often the holder checks its connection. */
  retryMs: number;
  /** How long one query or connect may take before the connection counts as broken (default: retryMs). */
  checkTimeoutMs?: number;
  /** The session's application_name, so other instances can log who holds the lease. */
  holderName?: string;
  logger: Logger;
  /** Called once the lease is taken: start the intake. */
  onTaken: () => Promise<void>;
  /** Called when the lease is lost or given back: stop the intake. */
  onLost: () => Promise<void>;
  /** Every state change (readiness, the held gauge). */
  onState?: (state: LeaseState, holder: LeaseHolder | null) => void;
}

/** The advisory-lock key of a mailbox: two int4 from a hash of a fixed prefix and the mailbox. */
export function leaseKey(mailbox: string): [number, number] {
  const digest = createHash('sha256').update(`casemail mailbox lease\0${mailbox}`).digest();
  return [digest.readInt32BE(0), digest.readInt32BE(4)];
}

/**
 * Server-side TCP keepalive for the lease session, from the retry interval: a holder cut off by the
 * network notices within two intervals (its check times out); the server drops the session, and so
 * frees the lock, only after about five, so the cut-off holder has stopped before anyone takes over.
 */
export function serverKeepalive(retryMs: number): { idle: number; interval: number; count: number } {
  const s = Math.max(1, Math.ceil(retryMs / 1000));
  return { idle: 2 * s, interval: s, count: 3 };
}

class LeaseTimeout extends Error {
  readonly code = 'lease_timeout';
}

function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LeaseTimeout(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export class MailboxLease {
  private readonly opts: MailboxLeaseOptions;
  private readonly log: Logger;
  private readonly key: [number, number];
  private readonly checkTimeoutMs: number;
  private conn: LeaseConnection | null = null;
  private state: LeaseState = 'starting';
  private holder: LeaseHolder | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Rounds, losses and stop run one after another on this chain. */
  private chain: Promise<void> = Promise.resolve();
  private unreachableLogged = false;
  /** Rounds to sit out after losing the lease: standing-by instances get the first try. */
  private pauseRounds = 0;

  constructor(opts: MailboxLeaseOptions) {
    if (!(opts.retryMs > 0)) throw new RangeError(`retryMs must be positive, got ${opts.retryMs}`);
    this.opts = opts;
    this.log = opts.logger.child({ component: 'mailbox-lease', mailbox: opts.mailbox });
    this.key = leaseKey(opts.mailbox);
    this.checkTimeoutMs = opts.checkTimeoutMs ?? opts.retryMs;
  }

  get current(): { state: LeaseState; holder: LeaseHolder | null } {
    return { state: this.state, holder: this.holder };
  }

  /** Resolves after the first try (held or standing by); later tries run every retryMs. */
  async start(): Promise<void> {
    await this.enqueue(() => this.round());
  }

  /** Stops the intake if held, gives the lock back and closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.enqueue(async () => {
      const conn = this.conn;
      if (this.state === 'held') {
        await this.callback(this.opts.onLost, 'stopping the intake');
        if (conn) await within(conn.query('select pg_advisory_unlock($1, $2)', this.key), this.checkTimeoutMs, 'unlock').catch(() => {});
        this.log.info('mailbox lease released');
      }
      this.setState('stopped', null);
      await this.drop();
    });
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work).catch((err: unknown) => this.log.error({ err }, 'mailbox lease step failed'));
    this.chain = next;
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.enqueue(() => this.round());
    }, this.opts.retryMs);
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    if (this.pauseRounds > 0) {
      this.pauseRounds -= 1;
      this.schedule();
      return;
    }
    try {
      const conn = this.conn ?? await this.open();
      if (!conn) return;
      if (this.state === 'held') {
        await within(conn.query('select 1'), this.checkTimeoutMs, 'the lease check');
      } else {
        await this.tryTake(conn);
      }
    } catch (err) {
      await this.lose(err);
    } finally {
      this.schedule();
    }
  }

  private async open(): Promise<LeaseConnection | null> {
    let conn: LeaseConnection;
    try {
      const connecting = this.opts.connect();
      // A connect that answers after its timeout is closed, not leaked.
      connecting.catch(() => {});
      conn = await within(connecting, this.checkTimeoutMs * 2, 'connecting for the lease').catch((err: unknown) => {
        void connecting.then((late) => late.end()).catch(() => {});
        throw err;
      });
      const ka = serverKeepalive(this.opts.retryMs);
      await within(conn.query(
        `select set_config('application_name', $1, false), set_config('tcp_keepalives_idle', $2, false),
                set_config('tcp_keepalives_interval', $3, false), set_config('tcp_keepalives_count', $4, false)`,
        [(this.opts.holderName ?? 'casemail').slice(0, 63), String(ka.idle), String(ka.interval), String(ka.count)],
      ), this.checkTimeoutMs, 'setting up the lease session').catch(async (err: unknown) => {
        await conn.end().catch(() => {});
        throw err;
      });
    } catch (err) {
      if (!this.unreachableLogged) this.log.warn({ err }, 'mailbox lease: cannot reach the database; trying again');
      this.unreachableLogged = true;
      if (this.state !== 'standby') this.setState('standby', null);
      return null;
    }
    this.unreachableLogged = false;
    this.conn = conn;
    const broken = (reason: string) => () => {
      if (this.conn === conn && !this.stopped) void this.enqueue(() => (this.conn === conn ? this.lose(new Error(reason)) : Promise.resolve()));
    };
    conn.on('error', broken('the lease connection failed'));
    conn.on('end', broken('the lease connection ended'));
    return conn;
  }

  private async tryTake(conn: LeaseConnection): Promise<void> {
    const r = await within(conn.query('select pg_try_advisory_lock($1, $2) as taken', this.key), this.checkTimeoutMs, 'pg_try_advisory_lock');
    if (r.rows[0]?.taken === true) {
      this.log.info({ previousHolder: this.holder?.pid ?? null }, 'mailbox lease taken: this instance consumes the mailbox');
      this.setState('held', null);
      try {
        await this.opts.onTaken();
      } catch (err) {
        // An intake that cannot start gives the mailbox back, so another instance may try.
        this.log.error({ err }, 'the intake did not start; giving the mailbox lease back');
        await within(conn.query('select pg_advisory_unlock($1, $2)', this.key), this.checkTimeoutMs, 'unlock').catch(() => this.drop());
        await this.callback(this.opts.onLost, 'stopping the intake');
        this.setState('standby', null);
      }
      return;
    }
    const holder = await this.readHolder(conn).catch(() => null);
    if (this.state !== 'standby' || holder?.pid !== this.holder?.pid) {
      this.log.info({ holderPid: holder?.pid ?? null, holder: holder?.applicationName ?? null, holderAddress: holder?.clientAddress ?? null },
        'mailbox lease held by another instance: standing by');
    }
    this.setState('standby', holder);
  }

  private async readHolder(conn: LeaseConnection): Promise<LeaseHolder | null> {
    const r = await within(conn.query(
      `select l.pid, a.application_name, a.client_addr::text as client_addr
         from pg_locks l left join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 2
          and l.database = (select oid from pg_database where datname = current_database())
          and l.classid = ($1::int4)::oid and l.objid = ($2::int4)::oid
        limit 1`, this.key), this.checkTimeoutMs, 'reading the lease holder');
    const row = r.rows[0];
    if (!row) return null;
    return { pid: Number(row.pid), applicationName: (row.application_name as string | null) ?? null, clientAddress: (row.client_addr as string | null) ?? null };
  }

  /** The connection broke or a check failed: stop the intake first, then forget the connection. */
  private async lose(err: unknown): Promise<void> {
    const wasHeld = this.state === 'held';
    if (wasHeld) {
      this.log.warn({ err }, 'mailbox lease lost: stopping the intake and standing by');
      this.setState('standby', null);
      // The timer already running may fire at once: sitting out two rounds is at least one interval.
      this.pauseRounds = 2;
      await this.callback(this.opts.onLost, 'stopping the intake');
    } else if (!this.unreachableLogged) {
      this.log.warn({ err }, 'mailbox lease: the connection failed while standing by; reconnecting');
      this.unreachableLogged = true;
    }
    await this.drop();
  }

  private async drop(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    if (conn) await within(conn.end(), this.checkTimeoutMs, 'closing the lease connection').catch(() => {});
  }

  private async callback(fn: () => Promise<void>, what: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error({ err }, `mailbox lease: ${what} failed`);
    }
  }

  private setState(state: LeaseState, holder: LeaseHolder | null): void {
    const changed = state !== this.state || holder?.pid !== this.holder?.pid;
    this.state = state;
    this.holder = holder;
    if (changed) this.opts.onState?.(state, holder);
  }
}
