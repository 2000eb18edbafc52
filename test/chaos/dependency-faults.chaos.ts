// Chaos part 2, dependency faults: one `casemail start` child process serves the whole file while
// its dependencies misbehave, each reached through a TCP proxy (support/tcp-proxy.ts):
// - PostgreSQL: every backend of the service's database is terminated (pg_terminate_backend), then
//   the server goes away for a few seconds. The shared PostgreSQL 15 cluster is not restarted (other
//   users); the proxy in front of it closes its listener and resets every connection, which is what
//   the service sees of a restart: connections die, new ones are refused, then it is back.
// - Dovecot: a connection is cut in the middle of a FETCH response, and Dovecot is restarted (stopped
//   by its pid, started again on the same port and Maildir).
// - The SMTP relay (a real smtp-server sink): 421 and 451 (retried), 550 (failed for good, visible in
//   `casemail outbox list --failed`), and a relay that hangs (cut by outbox.smtpTimeoutSeconds, retried).
// Each fault runs under a batch of requests (half IMAP, half SMTP from MTA-like senders) and must
// yield a log line and a moved counter on /metrics; the same process recovers by itself. Counted per
// fault: lost, duplicate cases, missing and duplicate acknowledgements.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildRequest } from '../support/mail-builder.js';
import { appendAll, imapUrl, runCli, serviceSettings, spawnService, type ChildService } from '../support/service-harness.js';
import { chaosScale, figure } from './figures.js';
import { answeredAmong, countFlow, sendAllLikeMtas, waitForOutput, type FlowCounts, type MtaCounters } from './support/mail-flow.js';
import { sampleSum, scrape } from './support/metrics-scrape.js';
import { startRestartableDovecot, type RestartableDovecot } from './support/restartable-dovecot.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const PART = 'dependency faults';
/** Requests per fault (half IMAP, half SMTP). */
const BATCH = chaosScale(200, 40);
/** How long PostgreSQL stays away: the outage itself, not a wait for something to happen. */
const DATABASE_AWAY_MS = chaosScale(5_000, 3_000);
/** The relay's hang is cut after this (outbox.smtpTimeoutSeconds). */
const SMTP_TIMEOUT_SECONDS = 2;
const PHASE_DEADLINE_MS = chaosScale(300_000, 90_000);

describeWithDovecot(`chaos: dependency faults under load (${BATCH} requests per fault), one process throughout`, () => {
  let dovecot: RestartableDovecot;
  let sink: SmtpSink;
  let tdb: TestDatabase;
  let admin: pg.Client;
  let dataDir: string;
  let pgProxy: TcpProxy;
  let imapProxy: TcpProxy;
  let relayProxy: TcpProxy;
  let service: ChildService;
  let pid: number;
  let smtpPort: number;
  let metricsPort: number;
  const allIds: string[] = [];
  /** The request whose mail the relay refused with 550: its acknowledgement may be the one failed. */
  const ackExempt = new Set<string>();
  const stamp = Date.now();
  let serial = 0;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-deps-'));
    dovecot = await startRestartableDovecot();
    sink = await startSmtpSink();
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const dbUrl = new URL(tdb.url);
    pgProxy = await startTcpProxy({ host: dbUrl.hostname, port: Number(dbUrl.port) || 5432 });
    imapProxy = await startTcpProxy({ host: dovecot.host, port: dovecot.port });
    relayProxy = await startTcpProxy({ host: sink.host, port: sink.port });

    const viaProxy = new URL(tdb.url);
    viaProxy.port = String(pgProxy.port);
    const env = {
      DATABASE_URL: viaProxy.toString(),
      IMAP_URL: imapUrl({ ...dovecot, host: imapProxy.host, port: imapProxy.port }),
      SMTP_URL: `smtp://${relayProxy.host}:${relayProxy.port}`,
    };
    service = spawnService(env, serviceSettings(dataDir, {
      metrics: { enabled: true, port: 0, scrapeCacheSeconds: 0 },
      outbox: { retryBaseSeconds: 0.2, smtpTimeoutSeconds: SMTP_TIMEOUT_SECONDS },
    }), dataDir);
    pid = service.child.pid!;
    smtpPort = Number((await waitForOutput(service, /"port":(\d+)[^\n]*SMTP intake listening/))[1]);
    metricsPort = Number((await waitForOutput(service, /"port":(\d+)[^\n]*metrics server listening/))[1]);
    await waitForOutput(service, /IMAP intake connected/);
  });
  afterAll(async () => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await Promise.allSettled([pgProxy?.close(), imapProxy?.close(), relayProxy?.close()]);
    await admin?.end();
    await tdb?.close();
    await sink?.stop();
    await dovecot?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Requests for one fault: half to APPEND to Dovecot, half for the SMTP intake. */
  function batch(label: string, n: number): { imap: Buffer[]; smtp: Buffer[]; ids: string[] } {
    const imap: Buffer[] = [];
    const smtp: Buffer[] = [];
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `<chaos-deps-${label}-${i}-${stamp}@acme.example>`;
      (i % 2 === 0 ? imap : smtp).push(buildRequest(serial++, { messageId: id }));
      ids.push(id);
    }
    allIds.push(...ids);
    return { imap, smtp, ids };
  }

  /**
   * Runs one batch through the service while `fault` does its damage, then waits until every
   * request is acknowledged (except `exempt`); returns the batch's counts and the MTA retries.
   */
  async function underLoad(label: string, n: number, fault: (answered: (share: number) => Promise<void>) => Promise<void>): Promise<{ counts: FlowCounts; temporary: number }> {
    const { imap, smtp, ids } = batch(label, n);
    const idSet = new Set(ids);
    const deadline = Date.now() + PHASE_DEADLINE_MS;
    const counters: MtaCounters = { temporary: 0 };
    const appending = (async () => {
      for (let i = 0; i < imap.length; i += 10) await appendLikeMda(imap.slice(i, i + 10), deadline);
    })();
    const sending = sendAllLikeMtas(smtpPort, smtp, 4, counters, deadline);
    appending.catch(() => {});
    sending.catch(() => {});
    const answered = async (share: number) => {
      await sink.waitFor((m) => answeredAmong(m, idSet) >= Math.floor(n * share), Math.max(1, deadline - Date.now()));
    };
    await fault(answered);
    await Promise.all([appending, sending]);
    const expected = ids.filter((id) => !ackExempt.has(id)).length;
    await sink.waitFor((m) => answeredAmong(m, new Set(ids.filter((id) => !ackExempt.has(id)))) >= expected, Math.max(1, deadline - Date.now()));
    return { counts: await countFlow(tdb.db, ids, sink.messages), temporary: counters.temporary };
  }

  /**
   * Delivers into the mailbox like a local delivery agent: a connection lost (Dovecot restarted
   * under it) is tried again. The chunk goes again whole; what it already delivered is the same
   * bytes with the same Message-ID, which casemail stores once.
   */
  let appendRetries = 0;
  async function appendLikeMda(raws: Buffer[], deadline: number): Promise<void> {
    for (;;) {
      try {
        await appendAll(dovecot, raws);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        appendRetries += 1;
        // A delivery agent's retry queue, compressed: a short pause before the next attempt.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  function recordCounts(fault: string, c: FlowCounts, exempt = 0): void {
    figure(PART, `${fault}: requests`, c.sent);
    figure(PART, `${fault}: messages lost`, c.lost, '0', c.lost === 0);
    figure(PART, `${fault}: duplicate cases`, c.duplicateCases, '0', c.duplicateCases === 0);
    const missing = c.acknowledgementsMissing - exempt;
    figure(PART, `${fault}: acknowledgements missing`, missing, '0', missing === 0);
    figure(PART, `${fault}: duplicate acknowledgements`, c.duplicateAcknowledgements, '0', c.duplicateAcknowledgements === 0);
  }

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sampleSum(await scrape(metricsPort), name, labels);
  }

  function stillTheSameProcess(): void {
    expect(service.child.exitCode, service.output().slice(-4000)).toBeNull();
    expect(service.child.pid).toBe(pid);
  }

  async function terminateBackends(): Promise<number> {
    const database = new URL(tdb.url).pathname.slice(1);
    const r = await admin.query<{ ok: boolean }>('select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
    return r.rows.filter((row) => row.ok).length;
  }

  it('PostgreSQL: backends terminated, then the server away for a few seconds', async () => {
    const before = await metric('casemail_dependency_errors_total', { dependency: 'database' });
    const mark = service.output().length;
    let terminated = 0;
    let recoveredAt = 0;
    let backAt = 0;
    const { counts, temporary } = await underLoad('pg', BATCH, async (answered) => {
      await answered(0.2);
      terminated = await terminateBackends();
      await answered(0.4);
      await pgProxy.down();
      await new Promise((resolve) => setTimeout(resolve, DATABASE_AWAY_MS));
      await pgProxy.up();
      backAt = Date.now();
    });
    recoveredAt = Date.now();
    const line = await waitForOutput(service, /"level":40[^\n]*database connection lost/, 10_000, mark);
    const after = await metric('casemail_dependency_errors_total', { dependency: 'database' });

    figure(PART, 'PostgreSQL: backends terminated', terminated, '> 0', terminated > 0);
    figure(PART, 'PostgreSQL: seconds away', DATABASE_AWAY_MS / 1000);
    figure(PART, 'PostgreSQL: SMTP 451s / lost connections retried by MTAs', temporary);
    figure(PART, 'PostgreSQL: dependency_errors{database} moved by', after - before, '> 0', after > before);
    figure(PART, 'PostgreSQL: seconds from back to all acknowledged', Number(((recoveredAt - backAt) / 1000).toFixed(1)));
    recordCounts('PostgreSQL', counts);

    expect(terminated).toBeGreaterThan(0);
    expect(line[0]).toMatch(/database connection lost/);
    expect(after).toBeGreaterThan(before);
    expect(counts).toMatchObject({ lost: 0, duplicateCases: 0, acknowledgementsMissing: 0, duplicateAcknowledgements: 0 });
    stillTheSameProcess();
  });

  it('Dovecot: a connection cut in the middle of a FETCH, and Dovecot restarted', async () => {
    const before = await metric('casemail_dependency_errors_total', { dependency: 'imap' });
    const mark = service.output().length;
    let cutInFetch = false;
    const { counts } = await underLoad('imap', BATCH, async (answered) => {
      // The first FETCH response with a body in it is cut halfway.
      await imapProxy.cutWhen(({ chunk }) => chunk.length > 1_000 && /\* \d+ FETCH /.test(chunk.toString('latin1')));
      cutInFetch = true;
      // Back on a new connection (after its reconnect delay), then Dovecot itself goes down under it.
      const cutAt = service.output().length;
      await waitForOutput(service, /IMAP intake connected/, 60_000, cutAt);
      await answered(0.2);
      await dovecot.restart();
    });
    const line = await waitForOutput(service, /"level":40[^\n]*IMAP connection (closed|error)/, 10_000, mark);
    const after = await metric('casemail_dependency_errors_total', { dependency: 'imap' });

    figure(PART, 'Dovecot: cut inside a FETCH response', cutInFetch ? 'yes' : 'no', 'yes', cutInFetch);
    figure(PART, 'Dovecot: restarts', 1);
    figure(PART, 'Dovecot: deliveries into the mailbox tried again (connection lost)', appendRetries);
    figure(PART, 'Dovecot: IMAP connections through the proxy', imapProxy.accepted);
    figure(PART, 'Dovecot: dependency_errors{imap} moved by', after - before, '>= 2', after - before >= 2);
    recordCounts('Dovecot', counts);

    expect(line[0]).toMatch(/IMAP connection/);
    expect(after - before).toBeGreaterThanOrEqual(2);
    expect(counts).toMatchObject({ lost: 0, duplicateCases: 0, acknowledgementsMissing: 0, duplicateAcknowledgements: 0 });
    stillTheSameProcess();
  });

  it('SMTP relay: 421 and 451 retried, 550 failed for good, a hang cut by the timeout and retried', async () => {
    const deliveries = (outcome: string) => metric('casemail_outbox_deliveries_total', { outcome });

    // 421 then 451: temporary, retried until delivered.
    const retriedBefore = await deliveries('retried');
    let mark = service.output().length;
    const temporaryPhase = await underLoad('relay-4xx', Math.max(10, BATCH / 4), async () => {
      sink.setFailure({ code: 421, stage: 'mail', times: 2 });
      await expect.poll(() => sink.rejections, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(2);
      sink.setFailure({ code: 451, stage: 'data', times: 2 });
      await expect.poll(() => sink.rejections, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(4);
    });
    await waitForOutput(service, /"code":"?[^\n]*temporary send failure; will retry/, 10_000, mark);
    const out4xx = service.output().slice(mark);
    // Each 451 (at DATA) is a retried delivery; a 421 closes the connection, and nodemailer's pool
    // may resend that mail on another connection itself before the dispatcher sees a failure.
    await expect.poll(() => deliveries('retried'), { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(retriedBefore + 2);
    const retriedAfter4xx = await deliveries('retried');
    figure(PART, 'relay 421/451: transactions refused', sink.rejections, '4', sink.rejections === 4);
    figure(PART, 'relay 421/451: 421 seen by the dispatcher', /"reply":"421[^\n]*temporary send failure; will retry/.test(out4xx) ? 'yes' : 'no (resent by the pool)');
    figure(PART, 'relay 421/451: deliveries retried (counter moved by)', retriedAfter4xx - retriedBefore, '>= 2', retriedAfter4xx - retriedBefore >= 2);
    recordCounts('relay 421/451', temporaryPhase.counts);
    expect(out4xx).toMatch(/"reply":"451[^\n]*temporary send failure; will retry/);
    expect(retriedAfter4xx - retriedBefore).toBeGreaterThanOrEqual(2);
    expect(temporaryPhase.counts).toMatchObject({ lost: 0, duplicateCases: 0, acknowledgementsMissing: 0, duplicateAcknowledgements: 0 });

    // 550: the one mail it refuses is failed for good, and the operator sees it.
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()).length, { timeout: 30_000, interval: 50 }).toBe(0);
    const failedBefore = await deliveries('failed');
    mark = service.output().length;
    const refusedId = `<chaos-deps-relay-550-0-${stamp}@acme.example>`;
    ackExempt.add(refusedId);
    sink.setFailure({ code: 550, message: 'mailbox unavailable', stage: 'data', times: 1 });
    const permanentPhase = await underLoad('relay-550', 1, async () => {
      await waitForOutput(service, /"level":40[^\n]*permanent send failure; marking the mail failed/, 60_000, mark);
    });
    // The warning is logged before the outcome is recorded and counted.
    await expect.poll(() => deliveries('failed'), { timeout: 10_000, interval: 50 }).toBeGreaterThan(failedBefore);
    const failedAfter = await deliveries('failed');
    const listed = await runCli(['outbox', 'list', '--failed', '--json'], { DATABASE_URL: tdb.url });
    const failedRows = JSON.parse(listed.stdout) as { status: string; kind: string; lastError: string | null }[];
    const shown = failedRows.filter((r) => r.status === 'failed' && /^550 /.test(r.lastError ?? ''));
    figure(PART, 'relay 550: the mail refused', shown.map((r) => r.kind).join(', '));
    figure(PART, 'relay 550: deliveries failed (counter moved by)', failedAfter - failedBefore, '1', failedAfter - failedBefore === 1);
    figure(PART, 'relay 550: failed rows in `casemail outbox list --failed`', shown.length, '1', shown.length === 1);
    recordCounts('relay 550', permanentPhase.counts, permanentPhase.counts.acknowledgementsMissing);
    expect(failedAfter - failedBefore).toBe(1);
    expect(listed.code, listed.stderr).toBe(0);
    expect(shown).toHaveLength(1);
    expect(permanentPhase.counts).toMatchObject({ lost: 0, duplicateCases: 0, duplicateAcknowledgements: 0 });

    // A relay that accepts the connection and then says nothing: cut by the timeout, retried.
    const retriedBeforeHang = await deliveries('retried');
    mark = service.output().length;
    let hungFor = 0;
    const hangPhase = await underLoad('relay-hang', Math.max(6, BATCH / 8), async () => {
      relayProxy.hang();
      const hungAt = Date.now();
      await waitForOutput(service, /"code":"ETIMEDOUT"[^\n]*temporary send failure; will retry/, 60_000, mark);
      hungFor = (Date.now() - hungAt) / 1000;
      relayProxy.unhang();
    });
    const retriedAfterHang = await deliveries('retried');
    figure(PART, 'relay hang: seconds until the first send was cut', Number(hungFor.toFixed(1)), `>= ${SMTP_TIMEOUT_SECONDS}`, hungFor >= SMTP_TIMEOUT_SECONDS);
    figure(PART, 'relay hang: deliveries retried (counter moved by)', retriedAfterHang - retriedBeforeHang, '> 0', retriedAfterHang > retriedBeforeHang);
    recordCounts('relay hang', hangPhase.counts);
    expect(retriedAfterHang).toBeGreaterThan(retriedBeforeHang);
    expect(hangPhase.counts).toMatchObject({ lost: 0, duplicateCases: 0, acknowledgementsMissing: 0, duplicateAcknowledgements: 0 });
    stillTheSameProcess();
  });

  it('the same process served every fault, and over all of them nothing was lost or doubled', async () => {
    const c = await countFlow(tdb.db, allIds, sink.messages);
    const exempt = [...ackExempt].filter((id) => answeredAmong(sink.messages, new Set([id])) === 0).length;
    figure(PART, 'all faults: requests', c.sent);
    figure(PART, 'all faults: messages lost', c.lost, '0', c.lost === 0);
    figure(PART, 'all faults: duplicate cases', c.duplicateCases, '0', c.duplicateCases === 0);
    figure(PART, 'all faults: acknowledgements missing (besides the 550)', c.acknowledgementsMissing - exempt, '0', c.acknowledgementsMissing - exempt === 0);
    figure(PART, 'all faults: duplicate acknowledgements', c.duplicateAcknowledgements, '0', c.duplicateAcknowledgements === 0);
    figure(PART, 'service restarts', service.child.exitCode === null && service.child.pid === pid ? 0 : 1, '0', service.child.exitCode === null);
    stillTheSameProcess();
    expect(service.output()).not.toMatch(/Unhandled 'error' event/);
    expect(c).toMatchObject({ lost: 0, duplicateCases: 0, duplicateAcknowledgements: 0 });
    expect(c.acknowledgementsMissing - exempt).toBe(0);
  });
});
