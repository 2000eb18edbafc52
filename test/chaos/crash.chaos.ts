// Chaos part 1, crash: `casemail start` runs as a child process while requests arrive half over
// IMAP (APPENDed to Dovecot while it runs) and half over SMTP (MTA-like senders that retry the
// same bytes after a lost connection or a 4xx). The process is SIGKILLed at random moments (a
// seeded schedule spread over the run, plus a random delay so some land during start-up) and
// started again each time on the same SMTP port. Timers tick every two seconds and the outbox
// delivers to a real smtp-server sink. Counted at the end: nothing lost, one case per request,
// every request acknowledged, and a repeated acknowledgement only within one per crash, with
// the same Message-ID. CHAOS_SEED replays a schedule.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildRequest } from '../support/mail-builder.js';
import { appendAll, imapUrl, serviceSettings, smtpUrl, spawnService, type ChildService } from '../support/service-harness.js';
import { chaosScale, figure } from './figures.js';
import { answeredAmong, chaosSeed, countFlow, seededRandom, sendAllLikeMtas, sparePort, type MtaCounters } from './support/mail-flow.js';

const N = chaosScale(2_000, 300);
const KILLS = chaosScale(20, 3);
const PART = 'crash';
/** The whole run must end within this (the promises are counted either way). */
const RUN_DEADLINE_MS = chaosScale(600_000, 100_000);

describeWithDovecot(`chaos: ${N} messages, SIGKILL at ${KILLS} random moments`, () => {
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let tdb: TestDatabase;
  let dataDir: string;
  let current: ChildService | null = null;

  beforeAll(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    dataDir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-crash-'));
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    await tdb?.close();
    await sink?.stop();
    await dovecot?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses nothing, opens one case per request and acknowledges each once (a crash may repeat one)', async () => {
    const seed = chaosSeed();
    const random = seededRandom(seed);
    const stamp = Date.now();
    const ids = Array.from({ length: N }, (_, i) => `<chaos-crash-${i < N / 2 ? 'imap' : 'smtp'}-${i}-${stamp}@acme.example>`);
    const raws = ids.map((messageId, i) => buildRequest(i, { messageId }));
    const imapRaws = raws.slice(0, N / 2);
    const smtpRaws = raws.slice(N / 2);
    const idSet = new Set(ids);

    const port = await sparePort();
    const env = { IMAP_URL: imapUrl(dovecot), SMTP_URL: smtpUrl(sink), DATABASE_URL: tdb.url };
    const settings = serviceSettings(dataDir, {
      smtpIntake: { enabled: true, host: '127.0.0.1', port },
      timers: { sweepSchedule: '*/2 * * * * *' },
    });
    const spawn = () => (current = spawnService(env, settings, dataDir));

    const started = Date.now();
    const deadline = started + RUN_DEADLINE_MS;
    spawn();
    // IMAP mail arrives while the service runs (and dies), in small APPEND batches.
    const appending = (async () => {
      for (let i = 0; i < imapRaws.length; i += 25) await appendAll(dovecot, imapRaws.slice(i, i + 25));
    })();
    const counters: MtaCounters = { temporary: 0 };
    const sending = sendAllLikeMtas(port, smtpRaws, 4, counters, deadline);
    // Awaited below; a failure must not surface as an unhandled rejection first.
    appending.catch(() => {});
    sending.catch(() => {});

    // Kill moments: progress points spread over the run, each followed by a random delay.
    const thresholds = Array.from({ length: KILLS }, () => Math.floor(N * (0.03 + 0.82 * random()))).sort((a, b) => a - b);
    let kills = 0;
    let finished = false;
    let c: Awaited<ReturnType<typeof countFlow>>;
    try {
      for (const threshold of thresholds) {
        await sink.waitFor((m) => answeredAmong(m, idSet) >= threshold, Math.max(1, deadline - Date.now()));
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 1_500)));
        const victim = current!;
        victim.child.kill('SIGKILL');
        await victim.exited;
        kills += 1;
        spawn();
      }
      await Promise.all([appending, sending]);
      await sink.waitFor((m) => answeredAmong(m, idSet) >= N, Math.max(1, deadline - Date.now()));
      finished = true;
    } finally {
      const seconds = (Date.now() - started) / 1000;
      const last = current!;
      if (last.child.exitCode === null && last.child.signalCode === null) {
        last.child.kill('SIGTERM');
        await last.exited;
      }
      c = await countFlow(tdb.db, ids, sink.messages);
      figure(PART, 'messages sent (IMAP + SMTP)', N);
      figure(PART, 'SIGKILLs (seed)', `${kills} (${seed})`, String(KILLS), kills === KILLS);
      figure(PART, 'MTA retries (4xx or lost connection)', counters.temporary);
      figure(PART, 'messages lost', c.lost, '0', c.lost === 0);
      figure(PART, 'duplicate cases', c.duplicateCases, '0', c.duplicateCases === 0);
      figure(PART, 'acknowledgements missing', c.acknowledgementsMissing, '0', c.acknowledgementsMissing === 0);
      figure(PART, 'duplicate acknowledgements', c.duplicateAcknowledgements, `<= ${kills}`, c.duplicateAcknowledgements <= kills);
      figure(PART, 'duplicates with another Message-ID', c.duplicatesWithOtherId, '0', c.duplicatesWithOtherId === 0);
      figure(PART, 'run seconds', Number(seconds.toFixed(1)));
      figure(PART, 'messages/s (all acknowledged)', finished ? Number((N / seconds).toFixed(1)) : 'not finished');
    }
    // After the figures (a run that did not finish has failed with its own error by now).
    expect(kills, `seed ${seed}`).toBe(KILLS);
    expect(c.lost, `seed ${seed}`).toBe(0);
    expect(c.duplicateCases, `seed ${seed}`).toBe(0);
    expect(c.acknowledgementsMissing, `seed ${seed}`).toBe(0);
    expect(c.duplicateAcknowledgements, `seed ${seed}`).toBeLessThanOrEqual(kills);
    expect(c.duplicatesWithOtherId, `seed ${seed}`).toBe(0);
  });
});
