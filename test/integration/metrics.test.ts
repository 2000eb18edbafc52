// The metrics and health endpoints of a running service (issue 10, part 4): the real service with
// metrics on an ephemeral port, mail in through the real SMTP intake and a real Dovecot mailbox,
// out to the real smtp-server sink; /metrics scraped before and after shows the counters move,
// /readyz turns 503 naming the database when the test database stops accepting connections.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { ServiceMetrics } from '../../src/metrics/service-metrics.js';
import { checkReadiness } from '../../src/metrics/metrics-server.js';
import { silentLogger } from '../../src/log/logger.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, serverUrl, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { appendAll, folderCount, headerOf, outboxSettled as settled, sendToIntake, serviceConfig } from '../support/service-harness.js';

type Labels = Record<string, string>;

/** Every sample of the Prometheus text: name, labels, value. */
function samples(text: string): { name: string; labels: Labels; value: number }[] {
  const out: { name: string; labels: Labels; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample with exactly these labels, 0 when the series does not exist yet. */
function value(text: string, name: string, labels: Labels = {}): number {
  const want = Object.entries(labels);
  const hit = samples(text).find((s) => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v));
  return hit?.value ?? 0;
}

/** Sum over every series of `name` whose labels include `labels`. */
function sum(text: string, name: string, labels: Labels = {}): number {
  return samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

describeWithDovecot(`metrics and health endpoints on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let service: RunningService;
  let base: string;
  // The service's clock, a week before the real date so every outbox row is due at once; moved on for the SLA breach.
  let now = new Date('2026-11-24T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    const ctx = serviceConfig(dovecot, sink, {
      metrics: { enabled: true, host: '127.0.0.1', port: 0, scrapeCacheSeconds: 0 },
      // An IMAP message over this is quarantined (SMTP refuses it with 552 before the handler sees it).
      limits: { maxMessageBytes: 50_000 },
    });
    service = await startService(ctx, tdb, { clock: () => now });
    base = `http://${service.metrics!.host}:${service.metrics!.port}`;
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await dovecot?.stop();
    await tdb?.close();
  });

  const scrape = async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  const send = (raw: Buffer, from: string) => sendToIntake(service.smtp!.port, raw, { from, to: ['support@casemail.localhost'] });

  const outboxSettled = () => settled(tdb.db);

  it('answers /healthz, /readyz naming every check, and 404 elsewhere', async () => {
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    const ready = await fetch(`${base}/readyz`);
    const body = await ready.json() as { status: string; checks: Record<string, string>; problems: string[] };
    expect(ready.status).toBe(200);
    expect(body).toEqual({ status: 'ready', ready: true, checks: { database: 'ok', smtp: 'ok', 'imap:support/INBOX': 'ok', outbox: 'ok' }, problems: [] });
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it('exposes process metrics from its own registry', async () => {
    const text = await scrape();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^# TYPE casemail_intake_messages_total counter$/m);
    expect(text).toMatch(/^# TYPE casemail_intake_lag_seconds histogram$/m);
  });

  it('counts a processed request, the mail it sends, and the open case by severity', async () => {
    const before = await scrape();
    const sinkBefore = sink.messages.length;
    const raw = buildMail({ subject: 'Metrics: export fails', messageId: `<metrics-processed-${Date.now()}@acme.example>` });
    expect(await send(raw, 'bob@acme.example')).toMatch(/OK: processed/);
    await sink.waitFor((ms) => ms.some((m) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    await outboxSettled();
    const sentNow = sink.messages.length - sinkBefore;
    const c = await tdb.db.selectFrom('cases').select(['severity']).where('subject', '=', 'Metrics: export fails').executeTakeFirstOrThrow();

    const after = await scrape();
    const processed = { mailbox: 'smtp', outcome: 'processed', reason: '' };
    expect(value(after, 'casemail_intake_messages_total', processed) - value(before, 'casemail_intake_messages_total', processed)).toBe(1);
    expect(value(after, 'casemail_intake_lag_seconds_count', { mailbox: 'smtp' }) - value(before, 'casemail_intake_lag_seconds_count', { mailbox: 'smtp' })).toBe(1);
    // Acknowledgement and the engineer's notification: one counted send per mail the sink got.
    expect(sentNow).toBeGreaterThanOrEqual(1);
    expect(sum(after, 'casemail_outbox_deliveries_total', { outcome: 'sent' }) - sum(before, 'casemail_outbox_deliveries_total', { outcome: 'sent' })).toBe(sentNow);
    expect(value(after, 'casemail_outbox_deliveries_total', { outcome: 'sent', kind: 'acknowledgement' })).toBeGreaterThanOrEqual(1);
    const sev = { severity: String(c.severity) };
    expect(value(after, 'casemail_open_cases', sev) - value(before, 'casemail_open_cases', sev)).toBe(1);
    expect(value(after, 'casemail_outbox_pending')).toBe(0);
    expect(value(after, 'casemail_outbox_oldest_due_age_seconds')).toBe(0);
  });

  it('counts a held message under its reason, and a second copy as a duplicate', async () => {
    const before = await scrape();
    const raw = buildMail({ from: 'Stranger <stranger@elsewhere.example>', subject: 'Who answers this?', messageId: `<metrics-held-${Date.now()}@elsewhere.example>` });
    expect(await send(raw, 'stranger@elsewhere.example')).toMatch(/OK: held/);
    expect(await send(raw, 'stranger@elsewhere.example')).toMatch(/OK: duplicate/);
    const after = await scrape();
    const held = { mailbox: 'smtp', outcome: 'held', reason: 'unknown_sender' };
    expect(value(after, 'casemail_intake_messages_total', held) - value(before, 'casemail_intake_messages_total', held)).toBe(1);
    const dup = { mailbox: 'smtp', outcome: 'duplicate', reason: '' };
    expect(value(after, 'casemail_intake_messages_total', dup) - value(before, 'casemail_intake_messages_total', dup)).toBe(1);
  });

  it('counts a quarantined IMAP message under its mailbox, with its lag from INTERNALDATE', async () => {
    const before = await scrape();
    const big = buildMail({ subject: 'Too big', messageId: `<metrics-big-${Date.now()}@acme.example>`, body: 'y'.repeat(80_000) });
    await appendAll(dovecot, [big]);
    await expect.poll(() => folderCount(dovecot, 'Quarantine'), { timeout: 20_000, interval: 100 }).toBe(1);
    const after = await scrape();
    const q = { mailbox: 'support/INBOX', outcome: 'quarantined', reason: '' };
    expect(value(after, 'casemail_intake_messages_total', q) - value(before, 'casemail_intake_messages_total', q)).toBe(1);
    const lag = { mailbox: 'support/INBOX' };
    expect(value(after, 'casemail_intake_lag_seconds_count', lag) - value(before, 'casemail_intake_lag_seconds_count', lag)).toBe(1);
    // INTERNALDATE has one-second resolution; the message was appended moments ago.
    const seconds = value(after, 'casemail_intake_lag_seconds_sum', lag) - value(before, 'casemail_intake_lag_seconds_sum', lag);
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(30);
  });

  it('times the sweep and counts the SLA breaches it records', async () => {
    const before = await scrape();
    // A month on, every open case's first-response target has passed.
    now = new Date('2026-12-24T09:00:00Z');
    await service.sweepNow();
    await outboxSettled();
    const breached = Number((await tdb.db.selectFrom('case_events').select((eb) => eb.fn.countAll().as('n')).where('kind', '=', 'sla_breached').executeTakeFirstOrThrow()).n);
    expect(breached).toBeGreaterThanOrEqual(1);
    const after = await scrape();
    expect(value(after, 'casemail_sweep_duration_seconds_count', { result: 'ok' }) - value(before, 'casemail_sweep_duration_seconds_count', { result: 'ok' })).toBe(1);
    expect(value(after, 'casemail_sla_breaches_total') - value(before, 'casemail_sla_breaches_total')).toBe(breached);
    expect(value(after, 'casemail_sweep_events_total', { kind: 'sla_breached' })).toBe(breached);
    expect(sum(after, 'casemail_sweep_cases_total', { outcome: 'acted' }) - sum(before, 'casemail_sweep_cases_total', { outcome: 'acted' })).toBeGreaterThanOrEqual(1);
    expect(sum(after, 'casemail_open_cases_sla_breached')).toBe(breached);
  });

  it('fails a second service whose metrics port is taken, naming the port', async () => {
    const ctx = serviceConfig(dovecot, sink, { metrics: { enabled: true, host: '127.0.0.1', port: service.metrics!.port } });
    await expect(startService(ctx, tdb)).rejects.toThrow(new RegExp(`metrics server cannot listen on 127\\.0\\.0\\.1:${service.metrics!.port}: .*EADDRINUSE`));
  });

  it('turns /readyz 503 naming the database while the database refuses connections, and 200 again after', async () => {
    const name = new URL(tdb.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      await admin.query(`alter database ${name} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      const res = await fetch(`${base}/readyz`);
      const body = await res.json() as { status: string; checks: Record<string, string>; problems: string[] };
      expect(res.status).toBe(503);
      expect(body.status).toBe('not ready');
      expect(body.checks.smtp).toBe('ok');
      expect(body.checks.database).not.toBe('ok');
      expect(body.problems.some((p) => p.startsWith('database: '))).toBe(true);
      // The process is still alive.
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // Counters and process metrics are still served; the database gauges say they are stale.
      const text = await scrape();
      expect(value(text, 'casemail_database_gauges_ok')).toBe(0);
      expect(text).toMatch(/^casemail_intake_messages_total\{/m);
    } finally {
      await admin.query(`alter database ${name} allow_connections true`);
      await admin.end();
    }
    await expect.poll(async () => (await fetch(`${base}/readyz`)).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect(value(await scrape(), 'casemail_database_gauges_ok')).toBe(1);
  });
});

describe(`database gauges and the outbox readiness check on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => tdb?.close());

  it('reads the database once per cache period however often it is scraped', async () => {
    let wall = 1_000_000;
    const clock = new Date('2026-11-24T09:00:00Z');
    const metrics = new ServiceMetrics({ db: tdb.db, logger: silentLogger, cacheMs: 5_000, now: () => wall, clock: () => clock });
    const due = new Date(clock.getTime() - 90_000);
    const row = (n: number, status: 'pending' | 'failed' | 'held_back', at: Date) => ({
      cause_key: `metrics-cache-${n}`, kind: 'acknowledgement', to_addresses: JSON.stringify(['bob@acme.example']), message_id_header: `<m${n}@casemail.localhost>`,
      subject: 's', template: 'acknowledgement', data: JSON.stringify({}), status, next_attempt_at: at,
    });
    await tdb.db.insertInto('outbox').values([row(1, 'pending', due), row(2, 'pending', new Date(clock.getTime() + 60_000)), row(3, 'failed', due), row(4, 'held_back', due)]).execute();
    const first = await scrapeOf(metrics);
    expect(value(first, 'casemail_outbox_pending')).toBe(2);
    expect(value(first, 'casemail_outbox_failed')).toBe(1);
    expect(value(first, 'casemail_outbox_held_back')).toBe(1);
    expect(value(first, 'casemail_outbox_oldest_due_age_seconds')).toBe(90);

    await tdb.db.updateTable('outbox').set({ status: 'failed' }).where('cause_key', '=', 'metrics-cache-1').execute();
    wall += 4_000;
    const cached = await scrapeOf(metrics);
    expect(value(cached, 'casemail_outbox_failed')).toBe(1);
    wall += 2_000;
    const fresh = await scrapeOf(metrics);
    expect(value(fresh, 'casemail_outbox_failed')).toBe(2);
    expect(value(fresh, 'casemail_outbox_pending')).toBe(1);
    expect(value(fresh, 'casemail_outbox_oldest_due_age_seconds')).toBe(0);
  });

  it('is not ready while a pending mail has been due longer than outboxStuckMinutes', async () => {
    const clock = () => new Date('2026-11-25T09:00:00Z');
    await tdb.db.deleteFrom('outbox').execute();
    await tdb.db.insertInto('outbox').values({
      cause_key: 'metrics-stuck', kind: 'acknowledgement', to_addresses: JSON.stringify(['bob@acme.example']), message_id_header: '<stuck@casemail.localhost>',
      subject: 's', template: 'acknowledgement', data: JSON.stringify({}), status: 'pending', next_attempt_at: new Date('2026-11-25T08:40:00Z'),
    }).execute();
    const stuck = await checkReadiness({ db: tdb.db, clock, outboxStuckMinutes: 15 });
    expect(stuck.ready).toBe(false);
    expect(stuck.checks.database).toBe('ok');
    expect(stuck.problems).toEqual(['outbox: 1 pending mail due more than 15 minutes ago (oldest due 2026-11-25T08:40:00.000Z)']);
    expect(await checkReadiness({ db: tdb.db, clock, outboxStuckMinutes: 30 })).toEqual({ ready: true, checks: { database: 'ok', outbox: 'ok' }, problems: [] });
  });
});

async function scrapeOf(metrics: ServiceMetrics): Promise<string> {
  return (await metrics.exposition()).body;
}
