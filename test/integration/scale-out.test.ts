// Scale-out: two `casemail start` processes share one PostgreSQL, one Dovecot mailbox and one SMTP
// sink. IMAP mail is APPENDed, SMTP mail goes to both instances; the mailbox lease holder is
// SIGKILLed mid-run and the other instance takes the mailbox over. Every message ends in exactly
// one case, every acknowledgement arrives (a repeat only with the same Message-ID, at most one
// per kill, as in the crash test), and the failover takes well under 30 s.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { runTwoInstances } from '../support/two-instances.js';

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
});
