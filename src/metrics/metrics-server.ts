// The metrics HTTP server (node:http) on metrics.host:metrics.port: /metrics (Prometheus text from
// the service's own registry), /healthz (the process answers) and /readyz (the database answers,
// every intake runs, the outbox is not stuck; 503 with a JSON body naming what is wrong).
// I/O: one listening socket, the database (readiness), the readiness probes the service passes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { withTimeout, type ServiceMetrics } from './service-metrics.js';

/** One readiness check's answer: null when fine, `{ fine: detail }` when fine with a note (standby), else what is wrong. */
export type ProbeAnswer = string | null | { fine: string };
export type ReadinessProbe = () => Promise<ProbeAnswer> | ProbeAnswer;

export interface ReadinessOptions {
  db: Db;
  /** The service's clock: outbox rows are due at its instants. */
  clock: () => Date;
  /** A pending row due longer than this means the dispatcher is stuck (or cannot reach the relay). */
  outboxStuckMinutes: number;
  /** Each check's time budget; a database that does not answer within it is unreachable. */
  timeoutMs?: number;
  /** Named probes for the intakes (smtp, imap:<mailbox>), added by the service as it starts them. */
  intakes?: Map<string, ReadinessProbe>;
}

export interface Readiness {
  ready: boolean;
  /** Each check by name: "ok" or what is wrong. */
  checks: Record<string, string>;
  /** The checks that failed, as "<name>: <what>". */
  problems: string[];
}

function problemText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 300) || 'failed';
}

/** Runs every readiness check at once, each bounded by the timeout. */
export async function checkReadiness(opts: ReadinessOptions): Promise<Readiness> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const probes = new Map<string, ReadinessProbe>([
    ['database', async () => {
      await withTimeout(sql`select 1`.execute(opts.db), timeoutMs, 'select 1');
      return null;
    }],
    ...(opts.intakes ?? new Map<string, ReadinessProbe>()),
    ['outbox', async () => {
      const cutoff = new Date(opts.clock().getTime() - opts.outboxStuckMinutes * 60_000);
      const r = await withTimeout(sql<{ n: number; oldest: Date | null }>`
        select count(*) as n, min(next_attempt_at) as oldest from outbox where status = 'pending' and next_attempt_at < ${cutoff}`.execute(opts.db),
      timeoutMs, 'the outbox query');
      const row = r.rows[0];
      if (!row || Number(row.n) === 0) return null;
      return `${Number(row.n)} pending mail due more than ${opts.outboxStuckMinutes} minutes ago (oldest due ${new Date(row.oldest!).toISOString()})`;
    }],
  ]);
  const names = [...probes.keys()];
  const answers = await Promise.all(names.map(async (name) => {
    try {
      return await probes.get(name)!();
    } catch (err) {
      return problemText(err);
    }
  }));
  const checks: Record<string, string> = {};
  const problems: string[] = [];
  names.forEach((name, i) => {
    const answer = answers[i] ?? null;
    if (answer === null || typeof answer === 'object') {
      checks[name] = answer?.fine ?? 'ok';
      return;
    }
    checks[name] = answer;
    problems.push(`${name}: ${answer}`);
  });
  return { ready: problems.length === 0, checks, problems };
}

export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port (see start()'s result). */
  port: number;
  metrics: ServiceMetrics;
  readiness: () => Promise<Readiness>;
  logger: Logger;
}

export class MetricsServer {
  private server: Server | null = null;
  private lastReady = true;

  constructor(private readonly opts: MetricsServerOptions) {}

  /** Resolves once listening, with the address bound; rejects (EADDRINUSE, ...) when it cannot bind. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('metrics server already started');
    const server = createServer((req, res) => void this.route(req, res));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`metrics server cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`), { code: err.code }));
      server.once('error', onError);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger.error({ err }, 'metrics server error'));
    this.server = server;
    const address = server.address() as AddressInfo;
    this.opts.logger.info({ host: this.opts.host, port: address.port }, 'metrics server listening (/metrics, /healthz, /readyz)');
    return { host: this.opts.host, port: address.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    // A scraper's keep-alive connection would otherwise hold close() open.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    try {
      if (path === '/metrics') {
        const { contentType, body } = await this.opts.metrics.exposition();
        return this.send(res, 200, contentType, body);
      }
      if (path === '/healthz') return this.send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      if (path === '/readyz') {
        const r = await this.opts.readiness();
        // One log line when readiness changes, not one per probe.
        if (r.ready !== this.lastReady) {
          if (r.ready) this.opts.logger.info('ready again');
          else this.opts.logger.warn({ problems: r.problems }, 'not ready');
          this.lastReady = r.ready;
        }
        return this.send(res, r.ready ? 200 : 503, 'application/json; charset=utf-8', `${JSON.stringify({ status: r.ready ? 'ready' : 'not ready', ...r })}\n`);
      }
      return this.send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
    } catch (err) {
      this.opts.logger.error({ err, path }, 'metrics endpoint failed');
      return this.send(res, 500, 'text/plain; charset=utf-8', `error: ${problemText(err)}\n`);
    }
  }

  private send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store', ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

/** What readiness needs of an IMAP intake: its connection events (ImapIntake emits them). */
export interface ConnectionEvents {
  on(event: 'connected', listener: (e: { idle: boolean; uidValidity: number }) => void): unknown;
  on(event: 'disconnected', listener: (e: { error: unknown }) => void): unknown;
}

/**
 * Readiness of an IMAP intake: connected, or reconnecting (its backoff retries for ever) for less
 * than `graceSeconds`. Subscribe before start(): a first connect that fails counts from then.
 */
export function imapReadinessProbe(intake: ConnectionEvents, graceSeconds: number, now: () => number = Date.now): ReadinessProbe {
  let state: { connected: boolean; since: number; error: string | null } = { connected: false, since: now(), error: null };
  intake.on('connected', () => {
    state = { connected: true, since: now(), error: null };
  });
  intake.on('disconnected', ({ error }) => {
    // A failed reconnect reports again; the outage runs from the first report.
    const since = state.connected ? now() : state.since;
    state = { connected: false, since, error: error ? problemText(error) : state.error };
  });
  return () => {
    if (state.connected) return null;
    const down = Math.round((now() - state.since) / 1000);
    if (down < graceSeconds) return null;
    return `not connected for ${down} s (reconnecting${state.error ? `; last error: ${state.error}` : ''})`;
  };
}
