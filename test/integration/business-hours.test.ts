// Response deadlines on business time (issue 7, section 3), as a customer meets them: a severity 2
// request goes in through the real SMTP intake of a service whose calendar has working hours
// 08:00–18:00 Monday to Friday, and the acknowledgement at the real sink names the deadline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/config.js';
import { startService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';

describe(`severity 2 deadlines on business hours, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink?.stop();
    await tdb?.close();
  });

  /** Runs a service with this calendar at `now`, sends one severity 2 request and returns its case's deadline and acknowledgement text. */
  async function requestAt(now: Date, calendar: Record<string, unknown>, subject: string) {
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: {
        dataDir: tempDir('casemail-hours-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] },
        calendar: { workingHours: { start: '08:00', end: '18:00' }, ...calendar },
      },
    });
    const service = await startService({ config, logger: silentLogger }, tdb, { clock: () => now });
    try {
      const raw = buildMail({ subject, body: 'Severity 2: the report scheduler skips every other run since Tuesday.\n\nBob\n' });
      const client = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
      const reply = String((await client.sendMail({ envelope: { from: 'bob@acme.example', to: [SUPPORT] }, raw })).response);
      client.close();
      expect(reply).toMatch(/OK: processed/);
      const acks = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
      const ack = acks.find((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'))!;
      const c = await tdb.db.selectFrom('cases').select(['severity', 'first_response_due_at']).where('subject', '=', subject).executeTakeFirstOrThrow();
      return { severity: c.severity, due: c.first_response_due_at, ackText: (await parseMessage(ack.raw)).text };
    } finally {
      await service.stop();
    }
  }

  it('opened Friday 2026-12-04 17:00 (UTC calendar): due Monday 2026-12-07 15:00', async () => {
    const r = await requestAt(new Date('2026-12-04T17:00:00Z'), { timeZone: 'UTC' }, 'Scheduler skips runs (Friday)');
    expect(r.severity).toBe(2);
    expect(r.due).toEqual(new Date('2026-12-07T15:00:00Z'));
    // The acknowledgement names it in the organisation's time zone (Acme: Europe/Berlin).
    expect(r.ackText).toContain('Monday 7 December 2026, 16:00 (Europe/Berlin)');
  });

  it('opened Wednesday 2026-11-25 17:00 in America/Los_Angeles: due Thursday 15:00, or Monday 2026-11-30 15:00 with the US-CA holidays', async () => {
    const opened = new Date('2026-11-26T01:00:00Z'); // Wed 25 Nov 17:00 PST
    const plain = await requestAt(opened, { timeZone: 'America/Los_Angeles' }, 'Scheduler skips runs (no region)');
    expect(plain.due).toEqual(new Date('2026-11-26T23:00:00Z')); // Thu 26 Nov 15:00 PST
    const ca = await requestAt(opened, { timeZone: 'America/Los_Angeles', holidayRegion: 'US-CA' }, 'Scheduler skips runs (US-CA)');
    expect(ca.due).toEqual(new Date('2026-11-30T23:00:00Z')); // Mon 30 Nov 15:00 PST
    expect(ca.ackText).toContain('Tuesday 1 December 2026, 00:00 (Europe/Berlin)');
  });
});
