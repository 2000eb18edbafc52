// Chaos part 3, two instances: two `casemail start` processes against one PostgreSQL and one
// mailbox, SMTP load to both, the mailbox lease holder SIGKILLed (five times in the full run, once
// in the short one) and replaced each time. Records and asserts: messages lost, duplicate cases,
// acknowledgements missing (all 0), duplicate acknowledgements (same Message-ID; per kill at most
// the mails the killed dispatcher had in flight, spec §6: the relay accepted them and the kill came
// before the commit recording them; usually one) and the failover time (< 30 s), at the default
// lease retry of 5 s.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { runTwoInstances } from '../support/two-instances.js';
import { chaosScale, figure } from './figures.js';
import { DEFAULT_SEND_CONCURRENCY } from '../../src/notify/outbox-dispatcher.js';

const PART = 'two instances';
const KILLS = chaosScale(5, 1);

describeWithDovecot('chaos: two instances, one PostgreSQL, one mailbox, the lease holder killed', () => {
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

  it(`kills the mailbox holder ${KILLS} time(s) under SMTP load; the other takes over, nothing lost or doubled`, async () => {
    const f = await runTwoInstances({ dovecot, sink, tdb }, {
      imapWave: chaosScale(150, 60), smtpCount: chaosScale(500, 80), kills: KILLS, leaseRetrySeconds: 5,
      tag: `chaos2-${Date.now()}`, waitMs: 180_000,
    });
    const worstFailover = Math.max(...f.failoverSeconds);
    figure(PART, 'messages sent (IMAP + SMTP)', f.sent);
    figure(PART, 'holder kills', f.failoverSeconds.length, String(KILLS), f.failoverSeconds.length === KILLS);
    figure(PART, 'messages lost', f.lost, '0', f.lost === 0);
    figure(PART, 'duplicate cases', f.duplicateCases, '0', f.duplicateCases === 0);
    figure(PART, 'acknowledgements missing', f.acknowledgementsMissing, '0', f.acknowledgementsMissing === 0);
    const mostDoubles = KILLS * DEFAULT_SEND_CONCURRENCY;
    figure(PART, 'duplicate acknowledgements', f.duplicateAcknowledgements, `<= ${mostDoubles}, same Message-ID`,
      f.duplicateAcknowledgements <= mostDoubles && f.sameMessageId);
    figure(PART, 'failover seconds (worst)', worstFailover.toFixed(1), '< 30 s', worstFailover < 30);
    figure(PART, 'failover seconds (each)', f.failoverSeconds.map((s) => s.toFixed(1)).join(', '));

    expect(f.failoverSeconds).toHaveLength(KILLS);
    expect(f.lost).toBe(0);
    expect(f.duplicateCases).toBe(0);
    expect(f.acknowledgementsMissing).toBe(0);
    expect(f.duplicateAcknowledgements).toBeLessThanOrEqual(mostDoubles);
    expect(f.sameMessageId).toBe(true);
    expect(worstFailover).toBeLessThan(30);
  });
});
