// Scale-out: two `casemail start` processes share one PostgreSQL, one Dovecot mailbox and one SMTP
// sink. IMAP mail is APPENDed, SMTP mail goes to both instances; the mailbox lease holder is
// SIGKILLed mid-run and the other instance takes the mailbox over. Every message ends in exactly
// one case, every acknowledgement arrives (a repeat only with the same Message-ID, at most one
// per kill, as in the crash test), and the failover takes well under 30 s.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { runTwoInstances } from '../support/two-instances.js';
import { serviceConfig } from '../support/service-harness.js';

describeWithDovecot(`scale-out on ${databaseKind()}: two instances, one mailbox, the lease holder killed`, () => {
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let tdb: TestDatabase;

  beforeAll(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => {
    await tdb?.close();
    await sink?.stop();
    await dovecot?.stop();
  });

  it('the other instance takes the mailbox over; nothing lost, nothing doubled', { timeout: 300_000 }, async () => {
    const f = await runTwoInstances({ dovecot, sink, tdb }, {
      imapWave: 60, smtpCount: 60, kills: 1, leaseRetrySeconds: 1, tag: `scale-${Date.now()}`, waitMs: 120_000,
    });
    expect(f.sent).toBe(180);
    expect(f.killedMidWave).toBe(true);
    expect(f.lost).toBe(0);
    expect(f.duplicateCases).toBe(0);
    expect(f.acknowledgementsMissing).toBe(0);
    expect(f.duplicateAcknowledgements).toBeLessThanOrEqual(1);
    expect(f.sameMessageId).toBe(true);
    expect(f.failoverSeconds).toHaveLength(1);
    expect(f.failoverSeconds[0]).toBeLessThan(30);
  });

  it('an instance standing by is ready and says so; the lease gauge follows the holder; stop() gives the lease back', { timeout: 120_000 }, async () => {
    const metrics = { enabled: true, host: '127.0.0.1', port: 0, scrapeCacheSeconds: 0 };
    const configs = [serviceConfig(dovecot, sink, { metrics, imap: { mailboxes: [{ name: 'support', folder: 'INBOX' }], leaseRetrySeconds: 0.2 } }),
      serviceConfig(dovecot, sink, { metrics, imap: { mailboxes: [{ name: 'support', folder: 'INBOX' }], leaseRetrySeconds: 0.2 } })];
    const services: RunningService[] = [];
    try {
      services.push(await startService(configs[0]!, tdb));
      services.push(await startService(configs[1]!, tdb));
      const [first, second] = services.map((s) => `http://${s.metrics!.host}:${s.metrics!.port}`);
      const readyz = async (base: string) => {
        const res = await fetch(`${base}/readyz`);
        return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
      };
      const held = async (base: string) => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return /^casemail_mailbox_lease_held\{mailbox="support\/INBOX"\} (\d)$/m.exec(text)?.[1] ?? null;
      };
      expect(await held(first!)).toBe('1');
      expect(await held(second!)).toBe('0');
      await expect.poll(() => readyz(first!), { timeout: 20_000, interval: 50 }).toMatchObject({ status: 200, checks: { 'imap:support/INBOX': 'ok' } });
      const standby = await readyz(second!);
      expect(standby.status).toBe(200);
      expect(standby.checks['imap:support/INBOX']).toMatch(/^standby \(held by pid \d+\)$/);

      await services.shift()!.stop();
      await expect.poll(() => held(second!), { timeout: 20_000, interval: 50 }).toBe('1');
      await expect.poll(() => readyz(second!), { timeout: 20_000, interval: 50 }).toMatchObject({ status: 200, checks: { 'imap:support/INBOX': 'ok' } });
    } finally {
      await Promise.allSettled(services.map((s) => s.stop()));
      for (const c of configs) rmSync(c.config.paths.dataDir, { recursive: true, force: true });
    }
  });
});
