// Chaos part 2, dependency faults: a real PostgreSQL restart mid-run. The shared PostgreSQL 15 on
// :5432 is never restarted (other users); this part starts a server of its own (the embedded one,
// disposable, on a Unix socket in a temp folder), migrates a database on it, and runs one
// `casemail start` child against it with SMTP intake and a real smtp-server sink as its relay.
// While MTA-like senders keep handing requests to the intake, the server is stopped (fast
// shutdown: every session ended, the socket gone) and started again on the same data folder.
// Counted: lost, duplicate cases, missing and duplicate acknowledgements; the service must log
// the lost connection, count it on /metrics and recover by itself, as the same process.
// I/O: the embedded server's data folder and processes, the child service, SMTP on loopback.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { acquireEmbeddedServer, embeddedUrl, type EmbeddedLease } from '../../src/db/embedded-postgres.js';
import { isProcessAlive } from '../../src/db/process-alive.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildRequest } from '../support/mail-builder.js';
import { serviceSettings, spawnService, type ChildService } from '../support/service-harness.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { chaosScale, figure } from './figures.js';
import { answeredAmong, countFlow, sendAllLikeMtas, waitForOutput, type MtaCounters } from './support/mail-flow.js';
import { sampleSum, scrape } from './support/metrics-scrape.js';

const PART = 'dependency faults';
/** Requests sent through the restart (all over SMTP). */
const REQUESTS = chaosScale(200, 40);
/** Share of the requests acknowledged before the server is restarted (the rest cross the restart). */
const RESTART_AT_SHARE = 0.3;
const DEADLINE_MS = chaosScale(300_000, 90_000);
const SENDERS = 4;
/**
 * How long the server stays stopped before it is started again (a restart that waits on
 * something, as a package upgrade does): the outage itself, not a wait for something to happen.
 * During it the socket file is gone, so new connections fail with ENOENT rather than a refusal.
 */
const DOWN_MS = chaosScale(3_000, 1_500);

describe(`chaos: PostgreSQL restarted mid-run (${REQUESTS} requests over SMTP), one process throughout`, () => {
  let folder: string;
  let pgDir: string;
  let serviceDir: string;
  let lease: EmbeddedLease | null = null;
  let url: string;
  let handle: DatabaseHandle | null = null;
  let sink: SmtpSink;
  let service: ChildService;
  let pid: number;
  let smtpPort: number;
  let metricsPort: number;

  beforeAll(async () => {
    // A short path: the server's Unix socket lives in its data folder. Under root the server runs
    // as user postgres, which must be able to enter the folder.
    folder = mkdtempSync(path.join(tmpdir(), 'casemail-pgr-'));
    chmodSync(folder, 0o755);
    pgDir = path.join(folder, 'pg');
    serviceDir = path.join(folder, 'service');
    lease = await acquireEmbeddedServer(pgDir, { disposable: true });
    url = embeddedUrl(lease.connection);
    handle = await openDatabase({ databaseUrl: url, poolSize: 2 });
    await migrateToLatest(handle.db);
    await loadTestDirectory(handle.db);
    // Closed across the restart (its idle connections would die with the server); reopened to count.
    await handle.close();
    handle = null;

    sink = await startSmtpSink();
    service = spawnService({ DATABASE_URL: url, SMTP_URL: `smtp://${sink.host}:${sink.port}` }, serviceSettings(serviceDir, {
      imap: { mailboxes: [] },
      metrics: { enabled: true, port: 0, scrapeCacheSeconds: 0 },
    }), folder);
    pid = service.child.pid!;
    smtpPort = Number((await waitForOutput(service, /"port":(\d+)[^\n]*SMTP intake listening/))[1]);
    metricsPort = Number((await waitForOutput(service, /"port":(\d+)[^\n]*metrics server listening/))[1]);
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await handle?.close().catch(() => {});
    await sink?.stop();
    await lease?.release().catch(() => {});
    if (pgDir) await stopAnyPostmaster(pgDir);
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('PostgreSQL restarted under SMTP load: nothing lost or doubled, logged, counted, same process', async () => {
    const stamp = Date.now();
    const ids: string[] = [];
    const raws: Buffer[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const id = `<chaos-pgrestart-${i}-${stamp}@acme.example>`;
      raws.push(buildRequest(i, { messageId: id }));
      ids.push(id);
    }
    const idSet = new Set(ids);
    const deadline = Date.now() + DEADLINE_MS;
    const counters: MtaCounters = { temporary: 0 };
    const before = await metric('casemail_dependency_errors_total', { dependency: 'database' });
    const mark = service.output().length;

    const sending = sendAllLikeMtas(smtpPort, raws, SENDERS, counters, deadline);
    sending.catch(() => {});
    await sink.waitFor((m) => answeredAmong(m, idSet) >= Math.floor(REQUESTS * RESTART_AT_SHARE), Math.max(1, deadline - Date.now()));

    // The restart, while the senders keep going: fast shutdown by the lease's last user, then a
    // new start on the same data folder (the acquire waits for the old postmaster to be gone).
    const oldPostmaster = lease!.pid;
    const acceptedBeforeRestart = answeredAmong(sink.messages, idSet);
    const stoppedAt = Date.now();
    const old = lease!;
    lease = null;
    await old.release();
    await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
    lease = await acquireEmbeddedServer(pgDir, { disposable: true });
    const backAt = Date.now();
    const retriedWhileDown = counters.temporary;

    await sending;
    await sink.waitFor((m) => answeredAmong(m, idSet) >= REQUESTS, Math.max(1, deadline - Date.now()));
    const allAnsweredAt = Date.now();
    const line = await waitForOutput(service, /"level":40[^\n]*database connection lost/, 10_000, mark);
    const after = await metric('casemail_dependency_errors_total', { dependency: 'database' });

    handle = await openDatabase({ databaseUrl: url, poolSize: 2 });
    const c = await countFlow(handle.db, ids, sink.messages);
    const during = service.output().slice(mark);
    const warnings = (during.match(/"level":40[^\n]*database connection lost/g) ?? []).length;
    // The outage is the database's, not the messages': none of them is taken for a bad message.
    const blamedOnMessage = (during.match(/quarantining the message|quarantining it/g) ?? []).length;

    figure(PART, 'PostgreSQL restarted: postmaster replaced', lease.pid !== oldPostmaster ? 'yes' : 'no', 'yes', lease.pid !== oldPostmaster);
    figure(PART, 'PostgreSQL restarted: seconds held down', DOWN_MS / 1000);
    figure(PART, 'PostgreSQL restarted: seconds from stop to ready again', Number(((backAt - stoppedAt) / 1000).toFixed(1)));
    figure(PART, 'PostgreSQL restarted: requests acknowledged before the restart', acceptedBeforeRestart);
    figure(PART, 'PostgreSQL restarted: SMTP 4xx / lost connections retried by MTAs (until ready again)', `${counters.temporary} (${retriedWhileDown})`);
    figure(PART, 'PostgreSQL restarted: "database connection lost" warnings', warnings, '>= 1', warnings >= 1);
    figure(PART, 'PostgreSQL restarted: messages taken for bad ones (quarantine attempts)', blamedOnMessage, '0', blamedOnMessage === 0);
    figure(PART, 'PostgreSQL restarted: dependency_errors{database} moved by', after - before, '> 0', after > before);
    figure(PART, 'PostgreSQL restarted: seconds from ready to all acknowledged', Number(((allAnsweredAt - backAt) / 1000).toFixed(1)));
    figure(PART, 'PostgreSQL restarted: requests', c.sent);
    figure(PART, 'PostgreSQL restarted: messages lost', c.lost, '0', c.lost === 0);
    figure(PART, 'PostgreSQL restarted: duplicate cases', c.duplicateCases, '0', c.duplicateCases === 0);
    figure(PART, 'PostgreSQL restarted: acknowledgements missing', c.acknowledgementsMissing, '0', c.acknowledgementsMissing === 0);
    figure(PART, 'PostgreSQL restarted: duplicate acknowledgements', c.duplicateAcknowledgements, '<= 1, same Message-ID', c.duplicateAcknowledgements <= 1 && c.duplicatesWithOtherId === 0);
    const sameProcess = service.child.exitCode === null && service.child.pid === pid;
    figure(PART, 'PostgreSQL restarted: service restarts', sameProcess ? 0 : 1, '0', sameProcess);

    expect(lease.pid).not.toBe(oldPostmaster);
    expect(line[0]).toMatch(/database connection lost/);
    expect(after).toBeGreaterThan(before);
    expect(blamedOnMessage).toBe(0);
    expect(c).toMatchObject({ lost: 0, duplicateCases: 0, acknowledgementsMissing: 0, duplicatesWithOtherId: 0 });
    expect(c.duplicateAcknowledgements).toBeLessThanOrEqual(1);
    expect(service.child.exitCode, service.output().slice(-4000)).toBeNull();
    expect(service.child.pid).toBe(pid);
    expect(service.output()).not.toMatch(/Unhandled 'error' event/);
  });

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sampleSum(await scrape(metricsPort), name, labels);
  }
});

/**
 * Cleanup when the lease could not stop it (a failed restart, or a shutdown slower than the
 * lease waits): the postmaster named in the folder's postmaster.pid gets a fast shutdown and,
 * past a deadline, SIGKILL; the folder is removed only once it is gone.
 */
async function stopAnyPostmaster(dir: string): Promise<void> {
  let pid = 0;
  try {
    pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!pid || !isProcessAlive(pid)) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
