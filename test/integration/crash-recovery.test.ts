// Dying at any instant loses nothing: `casemail start` runs as a child process, is SIGKILLed in
// the middle of 500 messages and started again. Every message ends in exactly one case and every
// acknowledgement arrives; an acknowledgement is delivered twice only when the process died between
// the SMTP server accepting it and the commit recording it, and then with the same Message-ID.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildRequest } from '../support/mail-builder.js';
import { acknowledgements, appendAll, distinctAnswered, headerOf, imapUrl, serviceSettings, smtpUrl, spawnService } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const N = 500;

describeWithDovecot(`crash recovery on ${databaseKind()}: SIGKILL in the middle of ${N} messages`, () => {
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let tdb: TestDatabase;
  let dataDir: string;

  beforeAll(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    dataDir = tempDir('casemail-crash-');
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => {
    await tdb?.close();
    await sink?.stop();
    await dovecot?.stop();
  });

  function dbEnv(): Record<string, string> {
    return { DATABASE_URL: tdb.url };
  }

  it('loses nothing and answers every message once (or twice with the same Message-ID)', { timeout: 600_000 }, async () => {
    const raws = Array.from({ length: N }, (_, i) => buildRequest(i, { messageId: `<crash-${i}-${Date.now()}@acme.example>` }));
    await appendAll(dovecot, raws);
    const env = { IMAP_URL: imapUrl(dovecot), SMTP_URL: smtpUrl(sink), ...dbEnv() };
    const settings = serviceSettings(dataDir, { smtpIntake: { enabled: false } });

    const first = spawnService(env, settings, dataDir);
    // Kill it once a good part (but not all) has been answered.
    await sink.waitFor((m) => distinctAnswered(m).size >= N / 5, 180_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const answeredBeforeKill = distinctAnswered(sink.messages).size;
    expect(answeredBeforeKill).toBeLessThan(N);

    const second = spawnService(env, settings, dataDir);
    try {
      await sink.waitFor((m) => distinctAnswered(m).size >= N, 300_000);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }

    const ids = new Set(raws.map((r) => headerOf(r, 'Message-ID')));
    const acks = acknowledgements(sink.messages);
    const byAnswered = new Map<string, Set<string>>();
    for (const a of acks) {
      const key = headerOf(a.raw, 'In-Reply-To')!;
      expect(ids.has(key)).toBe(true);
      byAnswered.set(key, (byAnswered.get(key) ?? new Set()).add(headerOf(a.raw, 'Message-ID')!));
    }
    expect(byAnswered.size).toBe(N);
    // A repeated delivery carries the same Message-ID: one id per answered message.
    for (const messageIds of byAnswered.values()) expect(messageIds.size).toBe(1);

    const rows = await tdb.db.selectFrom('messages').select(['message_id_header', 'case_id'])
      .where('direction', '=', 'inbound').where('message_id_header', 'like', '<crash-%').execute();
    expect(rows).toHaveLength(N);
    expect(rows.every((r) => r.case_id !== null)).toBe(true);
    const cases = await tdb.db.selectFrom('cases').select('id').where('subject', 'like', 'Export problem %').execute();
    expect(cases).toHaveLength(N);
  });
});
