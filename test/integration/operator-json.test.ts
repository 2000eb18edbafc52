// The operator JSON contract (issue 7 section 4; docs/operator-json.md): `case show N --json`
// and `case list --json`. In-process through caseView/caseListView for the shape and the
// timeline's order, and spawned as the built command for the flags, the exit codes and
// terminal safety (mail text with escape sequences comes out as JSON \u escapes).
// The CLI tests need the build: `npx tsc -p tsconfig.build.json`.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { caseListView, caseView, type CaseView, type MessageItem } from '../../src/cases/case-view.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { silentLogger } from '../../src/log/logger.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { REPO, runCli } from '../support/service-harness.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const CLI_TIMEOUT = 120_000;
const SUPPORT = 'support@casemail.localhost';
const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [SUPPORT] };
const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures/mail/operator-json', name));

const SHOW_KEYS = ['assignee', 'closeReason', 'closedAt', 'deadlines', 'escalatedAt', 'links', 'number', 'openedAt', 'organisation',
  'participants', 'requester', 'severity', 'severitySource', 'state', 'subject', 'timeline'];
const LIST_KEYS = ['assignee', 'autoCloseAt', 'firstResponseAt', 'firstResponseDueAt', 'number', 'openedAt', 'organisation', 'severity', 'state', 'subject'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe(`operator JSON on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let handler: MessageHandler;
  const settings = loadConfig({ env: {}, overrides: {} }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    // The service's clock: outbox rows carry the database's own time, so the intake's must agree.
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => new Date() });
  });
  afterAll(async () => tdb?.close());

  async function openCase(raw: Buffer): Promise<number> {
    const r = await handler.handleAt(raw, smtp, new Date());
    expect(r.status).toBe('processed');
    return r.caseNumbers[0]!;
  }

  it('`case show --json`: the documented keys, people, deadlines, and a timeline of messages and events in time order', async () => {
    const number = await openCase(fixture('request-with-cc.eml'));
    const erin = await tdb.db.selectFrom('engineers').select('id').where('address', '=', 'erin@vendor.example').executeTakeFirstOrThrow();
    const c = await tdb.db.updateTable('cases').set({ assignee_engineer_id: erin.id }).where('number', '=', number).returning(['id', 'first_response_due_at']).executeTakeFirstOrThrow();
    // One mail delivered, one given up on: each shows its own delivery state.
    const ack = await tdb.db.updateTable('outbox').set({ status: 'sent', attempts: 1, sent_at: new Date('2030-01-01T00:00:00Z') })
      .where('case_id', '=', c.id).where('kind', '=', 'acknowledgement').returning('id').executeTakeFirstOrThrow();
    await tdb.db.updateTable('outbox').set({ status: 'failed', attempts: 8, last_error: '550 5.1.1 no such user' })
      .where('case_id', '=', c.id).where('id', '!=', ack.id).execute();
    const followUp = await handler.handleAt(
      buildMail({ subject: `Re: [Case #${number}] Nightly export stops with E42`, body: 'It failed again tonight.\n', messageId: '<opjson-followup-1@acme.example>' }),
      smtp, new Date());
    expect(followUp.caseNumbers).toEqual([number]);

    // Events at the very instant of a message and of a queued mail: the tie-break puts them between.
    const received = await tdb.db.selectFrom('messages').select('received_at').where('message_id_header', '=', '<opjson-request-1@acme.example>').executeTakeFirstOrThrow();
    const queued = await tdb.db.selectFrom('outbox').select('created_at').where('id', '=', ack.id).executeTakeFirstOrThrow();
    await tdb.db.insertInto('case_events').values([
      { case_id: c.id, message_id: null, at: received.received_at, actor: 'test', kind: 'tie_with_request', data: '{}' },
      { case_id: c.id, message_id: null, at: queued.created_at, actor: 'test', kind: 'tie_with_ack', data: '{}' },
    ]).execute();

    const view = (await caseView(tdb.db, number, { supportAddress: SUPPORT }))!;
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
    expect(Object.keys(view).sort()).toEqual(SHOW_KEYS);
    expect(view).toMatchObject({
      number, subject: 'Nightly export stops with E42', state: 'new', severity: expect.any(Number), severitySource: expect.any(String),
      organisation: { key: 'acme', name: 'Acme Industries' },
      requester: { address: 'bob@acme.example', name: 'Bob Builder' },
      assignee: { address: 'erin@vendor.example', name: 'Erin Engineer' },
      closedAt: null, closeReason: null, escalatedAt: null, links: [],
    });
    expect(view.participants).toContainEqual({ address: 'bob@acme.example', role: 'requester' });
    expect(Object.keys(view.deadlines).sort()).toEqual(['autoCloseAt', 'autoCloseReason', 'firstResponseAt', 'firstResponseDueAt', 'nextReminderAt', 'slaBreachedAt', 'slaWarnedAt', 'slaWarningDueAt']);
    expect(view.deadlines.firstResponseDueAt).toBe(c.first_response_due_at.toISOString());
    expect(view.openedAt).toMatch(ISO);

    const messages = view.timeline.filter((i): i is MessageItem => i.type === 'message');
    const request = messages.find((m) => m.messageId === '<opjson-request-1@acme.example>')!;
    expect(request).toEqual({
      type: 'message', at: expect.stringMatching(ISO), direction: 'inbound', from: 'bob@acme.example', to: [SUPPORT, 'carol@acme.example'],
      subject: 'Nightly export stops with E42', messageId: '<opjson-request-1@acme.example>', kind: request.kind, status: 'processed',
      statusReason: null, delivery: null,
    });
    expect(messages.find((m) => m.messageId === '<opjson-followup-1@acme.example>')).toMatchObject({ direction: 'inbound', status: 'processed' });
    const sentAck = messages.find((m) => m.direction === 'outbound' && m.kind === 'acknowledgement')!;
    expect(sentAck).toMatchObject({
      from: SUPPORT, status: 'sent', statusReason: null,
      subject: `[Case #${number}] Nightly export stops with E42`, messageId: expect.stringMatching(/^<.+@.+>$/),
      delivery: { status: 'sent', attempts: 1, lastError: null, sentAt: '2030-01-01T00:00:00.000Z' },
    });
    expect(sentAck.to).toContain('bob@acme.example');
    expect(messages.filter((m) => m.direction === 'outbound' && m.status === 'failed').every((m) =>
      m.delivery?.status === 'failed' && m.delivery.attempts === 8 && m.delivery.lastError === '550 5.1.1 no such user')).toBe(true);
    // The sent copy in `messages` is the outbox row's: it is not listed twice.
    expect(messages.filter((m) => m.messageId === sentAck.messageId)).toHaveLength(1);

    // Time order; at one instant the message, then what it caused, then the mail it queued.
    const at = view.timeline.map((i) => Date.parse(i.at));
    expect(at).toEqual([...at].sort((a, b) => a - b));
    const indexOf = (pred: (i: CaseView['timeline'][number]) => boolean) => view.timeline.findIndex(pred);
    const opened = indexOf((i) => i.type === 'event' && i.kind === 'case_opened');
    expect(opened).toBeGreaterThan(view.timeline.indexOf(request));
    expect(view.timeline.indexOf(sentAck)).toBeGreaterThan(opened);
    const tieRequest = indexOf((i) => i.type === 'event' && i.kind === 'tie_with_request');
    const tieAck = indexOf((i) => i.type === 'event' && i.kind === 'tie_with_ack');
    expect(view.timeline[tieRequest]!.at).toBe(request.at);
    expect(tieRequest).toBeGreaterThan(view.timeline.indexOf(request));
    expect(view.timeline[tieAck]!.at).toBe(sentAck.at);
    expect(tieAck).toBeLessThan(view.timeline.indexOf(sentAck));
    expect(view.timeline[opened]).toMatchObject({ type: 'event', actor: 'bob@acme.example', data: expect.any(Object) });

    expect(await caseView(tdb.db, 987654321, { supportAddress: SUPPORT })).toBeNull();
  });

  it('`case list --json`: the documented keys per case, newest first, filtered by state', async () => {
    const number = await openCase(buildMail({ subject: 'List me', body: 'The report page is blank.\n' }));
    const list = await caseListView(tdb.db, { state: null });
    const mine = list.find((c) => c.number === number)!;
    expect(Object.keys(mine).sort()).toEqual(LIST_KEYS);
    expect(mine).toMatchObject({
      subject: 'List me', state: 'new', organisation: { key: 'acme', name: 'Acme Industries' },
      openedAt: expect.stringMatching(ISO), firstResponseDueAt: expect.stringMatching(ISO), firstResponseAt: null, autoCloseAt: null,
    });
    expect(list.map((c) => c.number)).toEqual([...list.map((c) => c.number)].sort((a, b) => b - a));
    await tdb.db.updateTable('cases').set({ state: 'closed', closed_at: new Date(), close_reason: 'resolved' }).where('number', '=', number).execute();
    expect((await caseListView(tdb.db, { state: 'closed' })).map((c) => c.number)).toEqual([number]);
    expect((await caseListView(tdb.db, { state: 'new' })).map((c) => c.number)).not.toContain(number);
  });
});

describe(`casemail case show/list --json on ${databaseKind()}`, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => {});
  });

  it('prints the contract as JSON with mail text escaped for the terminal; an unknown case exits 1', async () => {
    if (!existsSync(path.join(REPO, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
    const dir = tempDir('casemail-opjson-');
    chmodSync(dir, 0o755);
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, 'casemail.json');
    writeFileSync(config, JSON.stringify({ dataDir: dir, imap: { mailboxes: [] } }));
    const db = await createTestDatabase();
    cleanups.push(() => db.close());
    const env = { CASEMAIL_CONFIG: config, DATABASE_URL: db.url };
    expect((await runCli(['directory', 'import', path.join(REPO, 'test/fixtures/directory/entitled.json')], env)).code).toBe(0);
    const stored = await runCli(['ingest'], env, fixture('hostile-subject.eml'));
    const number = /^processed #(\d+)/.exec(stored.stdout)?.[1];
    expect(number, stored.stdout + stored.stderr).toBeDefined();

    const shown = await runCli(['case', 'show', number!, '--json'], env);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/^database: postgres:\/\//m);
    // No raw ESC, BEL or bidi override reaches the terminal; the JSON still means the same text.
    // eslint-disable-next-line no-control-regex
    expect(shown.stdout).not.toMatch(/[\x1b\x07\u202e]/);
    const view = JSON.parse(shown.stdout) as CaseView;
    expect(view.subject).toBe('Export \x1b]0;pwned\x07 fails \u202elive');
    expect(Object.keys(view).sort()).toEqual(SHOW_KEYS);
    expect(view.timeline.some((i) => i.type === 'message' && i.subject === view.subject)).toBe(true);

    const list = await runCli(['case', 'list', '--json'], env);
    expect(list.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(list.stdout).not.toMatch(/[\x1b\x07\u202e]/);
    expect((JSON.parse(list.stdout) as { number: number }[]).map((c) => c.number)).toEqual([Number(number)]);
    expect(JSON.parse((await runCli(['case', 'list', '--json', '--state', 'closed'], env)).stdout)).toEqual([]);

    const missing = await runCli(['case', 'show', '999999', '--json'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no case #999999');
  }, CLI_TIMEOUT);
});
