// Templates at start-up and per deployment (issue 9, part 3): the real `casemail start` refuses a
// broken template before it opens the database or listens, naming file and line on stderr; and a
// deployment folder holding one changed template is used by a real send (SMTP intake -> outbox ->
// smtp-server sink) while every other kind still comes from the shipped folder.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, REPO, runCli, serviceSettings, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SHIPPED = path.join(REPO, 'templates');
const SUPPORT = 'support@casemail.localhost';

describe('casemail start with a broken template', () => {
  const dirs: string[] = [];
  const temp = (prefix: string) => {
    const d = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Runs the real CLI with a config whose templatesDir is `templatesDir`; SMTP intake on, so "listening" would show. */
  async function start(templatesDir: string) {
    const dataDir = temp('casemail-tpl-data-');
    const configFile = path.join(temp('casemail-tpl-config-'), 'casemail.json');
    writeFileSync(configFile, JSON.stringify(serviceSettings(dataDir, { templatesDir, imap: { mailboxes: [] }, logLevel: 'info' })));
    const run = await runCli(['start'], { CASEMAIL_CONFIG: configFile, LOG_LEVEL: 'info' });
    return { ...run, dataDir };
  }

  it('exits non-zero with the file and line of a syntax error on stderr, before opening the database or listening', async () => {
    const templates = temp('casemail-tpl-copy-');
    cpSync(SHIPPED, templates, { recursive: true });
    const file = path.join(templates, 'sla-warning.text.hbs');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = `${lines[2]} {{/if}}`;
    writeFileSync(file, lines.join('\n'));

    const r = await start(templates);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sla-warning\.text\.hbs line 3: Parse error: Expecting .*got 'OPEN_ENDBLOCK'/);
    expect(r.stderr).toContain('refusing to start');
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/SMTP intake listening|outbox dispatcher running/);
    // The embedded database was never created: the check runs first.
    expect(readdirSync(r.dataDir)).toEqual([]);
  });

  it('names the file and line of a variable the data does not have, in a deployment folder of one file', async () => {
    const templates = temp('casemail-tpl-override-');
    writeFileSync(path.join(templates, 'acknowledgement.text.hbs'), 'Hello {{requesterName}},\n\nyour case {{case.tag}}\nis due {{targetResponseLocale}}.\n');
    const r = await start(templates);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('acknowledgement.text.hbs line 4: rendering the sample data failed: "targetResponseLocale" not defined');
    expect(r.stderr).not.toMatch(/acknowledgement\.html\.hbs/);
  });
});

describe(`a deployment's templates folder with one changed file, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let overrideDir: string;
  const now = new Date('2026-11-24T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    overrideDir = tempDir('casemail-tpl-deploy-');
    writeFileSync(path.join(overrideDir, 'acknowledgement.text.hbs'),
      'Dear {{requesterName}},\n\nACME-PATCHED acknowledgement of {{case.tag}}.\nWe answer {{targetDuration}}, by {{targetResponseLocal}}.\n');
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: {
        dataDir: tempDir('casemail-tpl-e2e-'), demoDirectory: false, logLevel: 'silent', templatesDir: overrideDir,
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
      },
    });
    service = await startService({ config, logger: silentLogger }, tdb, { clock: () => now });
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
    if (overrideDir) rmSync(overrideDir, { recursive: true, force: true });
  });

  it('sends the acknowledgement from the deployment file and everything else from the shipped folder', async () => {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Export stops with E42', body: 'Since the update the export stops with E42.\n\nBob\n' });
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
    try {
      expect(String((await client.sendMail({ envelope: { from: 'bob@acme.example', to: [SUPPORT] }, raw })).response)).toMatch(/OK: processed/);
    } finally {
      client.close();
    }
    const isAck = (m: SinkMessage) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID');
    const isNotification = (m: SinkMessage) => m.rcptTo.includes('erin@vendor.example') && /New case/.test(headerOf(m.raw, 'Subject') ?? '');
    const got = await sink.waitFor((ms) => ms.some(isAck) && ms.some(isNotification), 20_000);

    const ack = await parseMessage(got.find(isAck)!.raw);
    // The reply marker opens every mail we send; the deployment's own text follows it.
    expect(ack.text).toMatch(/^##- Please type your reply above this line -##\n\nDear Bob Builder,\n\nACME-PATCHED acknowledgement of \[Case #\d+\]\.\nWe answer within 24 business hours, by Wednesday 25 November 2026, 10:00 \(Europe\/Berlin\)\./);
    // Severity 3 (nothing urgent in the mail): 24 business hours. The HTML part had no override: the shipped one, with the target in both forms.
    expect(ack.html).toMatch(/Our target for the first response is within 24 business hours: by <strong>Wednesday 25 November 2026, 10:00 \(Europe\/Berlin\)<\/strong>/);
    expect(ack.html).not.toContain('ACME-PATCHED');

    const notification = await parseMessage(got.find(isNotification)!.raw);
    expect(notification.text).toContain('----- customer\'s message -----\nSince the update the export stops with E42.');
    expect(notification.text).toMatch(/Target: +within 24 business hours\n +Respond by: +Wednesday 25 November 2026, \d\d:00 \([A-Za-z/_]+\)\n/);
  });
});
