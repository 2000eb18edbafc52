// `casemail held list|show|discard|release` (issue 7, "Held mail"), spawned as the built command
// against this file's own test database: a message from an unknown sender is held; the operator
// lists and reads it, discards one with a reason (kept, audited, refused the second time), and
// releases another once the sender is in the directory, which opens and acknowledges a case.
// Release needs the intake's `releasing` option (MessageHandler.handleAt's fourth argument).
// Needs the build: `npx tsc -p tsconfig.build.json`.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildMail } from '../support/mail-builder.js';
import { REPO, runCli } from '../support/service-harness.js';
import { createTestDatabase, databaseKind } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const CLI_TIMEOUT = 120_000;
const FIXTURE = path.join(REPO, 'test/fixtures/mail/held/unknown-sender.eml');
const DIRECTORY = path.join(REPO, 'test/fixtures/directory/entitled.json');
const DIRECTORY_WITH_CAROL = path.join(REPO, 'test/fixtures/directory/entitled-plus-carol.json');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

beforeAll(() => {
  if (!existsSync(path.join(REPO, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
});

/** A data folder with a config, and this test's own database (DATABASE_URL) with the directory loaded. */
async function setup(): Promise<Record<string, string>> {
  const dir = tempDir('casemail-held-');
  chmodSync(dir, 0o755);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'casemail.json');
  writeFileSync(config, JSON.stringify({ dataDir: dir, imap: { mailboxes: [] } }));
  const db = await createTestDatabase();
  cleanups.push(() => db.close());
  const env = { CASEMAIL_CONFIG: config, DATABASE_URL: db.url, USER: 'op-alice' };
  const imported = await runCli(['directory', 'import', DIRECTORY], env);
  expect(imported.code, imported.stderr).toBe(0);
  return env;
}

/** Ingests a message that must be held; returns its message id (from `held list --json`). */
async function ingestHeld(env: Record<string, string>, raw: Buffer): Promise<number> {
  const r = await runCli(['ingest'], env, raw);
  expect(r.stdout, r.stderr).toMatch(/^held \(unknown_sender\)/);
  const list = JSON.parse((await runCli(['held', 'list', '--json'], env)).stdout) as { id: number; subject: string }[];
  const subject = /^Subject: (.*)$/m.exec(raw.toString('latin1'))![1]!.trim();
  const row = list.find((m) => m.subject === subject);
  expect(row, JSON.stringify(list)).toBeDefined();
  return row!.id;
}

async function heldShow(env: Record<string, string>, id: number) {
  const r = await runCli(['held', 'show', String(id), '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & { status: string; reason: string | null; events: { kind: string; actor: string; data: Record<string, unknown> }[] };
}

describe(`casemail held on ${databaseKind()}`, () => {
  it('lists and shows a held message: sender, reason, recipients, visible text, attachments, the events about it', async () => {
    const env = await setup();
    const id = await ingestHeld(env, readFileSync(FIXTURE));

    const list = await runCli(['held', 'list', '--json'], env);
    expect(list.code).toBe(0);
    expect(list.stderr).toMatch(/^database: postgres:\/\//m);
    expect(JSON.parse(list.stdout)).toEqual([{
      id, receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), from: 'carol@acme.example',
      subject: 'Licence server refuses new seats', reason: 'unknown_sender', caseNumber: null,
    }]);

    const human = await runCli(['held', 'list'], env);
    expect(human.stdout).toMatch(new RegExp(`^\\s*${id}\\s.*carol@acme\\.example.*unknown_sender\\s+Licence server refuses new seats$`, 'm'));

    const shown = await heldShow(env, id);
    expect(shown).toMatchObject({
      id, status: 'held', from: 'carol@acme.example', to: ['support@casemail.localhost'], cc: ['dave@acme.example'],
      reason: 'unknown_sender', caseNumber: null, attachments: [{ name: 'licence.log', size: expect.any(Number) }],
    });
    expect(shown.visibleText).toContain('no seats left');

    const missing = await runCli(['held', 'show', '999999'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no held message 999999');
    expect((await runCli(['held', 'show', 'abc'], env)).code).toBe(2);
  }, CLI_TIMEOUT);

  it('discards a held message with a reason: kept, marked, audited in one step; a second discard is refused', async () => {
    const env = await setup();
    const id = await ingestHeld(env, readFileSync(FIXTURE));

    const noReason = await runCli(['held', 'discard', String(id)], env);
    expect(noReason.code).toBe(2);

    const done = await runCli(['held', 'discard', String(id), '--reason', 'spam from a former customer'], env);
    expect(done.stderr).not.toContain('casemail held');
    expect(done.stdout).toBe(`message ${id} discarded\n`);
    expect(done.code).toBe(0);

    const shown = await heldShow(env, id);
    expect(shown.status).toBe('discarded');
    expect(shown.reason).toBe('discarded: spam from a former customer');
    expect(shown.events).toEqual([expect.objectContaining({ kind: 'held_message_discarded', actor: 'op-alice', data: { reason: 'spam from a former customer' } })]);
    expect(JSON.parse((await runCli(['held', 'list', '--json'], env)).stdout)).toEqual([]);

    const again = await runCli(['held', 'discard', String(id), '--reason', 'twice'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`message ${id} is not held (it is discarded)`);
    expect((await heldShow(env, id)).reason).toBe('discarded: spam from a former customer');
  }, CLI_TIMEOUT);

  it('refuses to release or discard a message that is not held, and an id that does not exist', async () => {
    const env = await setup();
    const stored = await runCli(['ingest'], env, buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Processed, not held' }));
    expect(stored.stdout).toMatch(/^processed #\d+/);
    expect(JSON.parse((await runCli(['held', 'list', '--json'], env)).stdout)).toEqual([]);

    for (const args of [['release', '424242'], ['discard', '424242', '--reason', 'x']]) {
      const r = await runCli(['held', ...args], env);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/no (held )?message 424242/);
    }
    expect((await runCli(['held', 'release', 'x17'], env)).code).toBe(2);
  }, CLI_TIMEOUT);

  it('releases a held request once the sender is in the directory: a case opens and is acknowledged; the old row says what it became', async () => {
    const env = await setup();
    const id = await ingestHeld(env, readFileSync(FIXTURE));
    expect((await runCli(['directory', 'import', DIRECTORY_WITH_CAROL], env)).code).toBe(0);

    const released = await runCli(['held', 'release', String(id)], env);
    expect(released.stderr).not.toContain('casemail held');
    const number = new RegExp(`^message ${id} released: case #(\\d+) opened$`).exec(released.stdout.trim())?.[1];
    expect(number, `${released.stdout}${released.stderr}`).toBeDefined();
    expect(released.code).toBe(0);

    const old = await heldShow(env, id);
    expect(old.status).toBe('released');
    expect(old.reason).toMatch(/^released as message \d+$/);
    expect(old.events.map((e) => e.kind)).toContain('held_message_released');
    expect(JSON.parse((await runCli(['held', 'list', '--json'], env)).stdout)).toEqual([]);

    const shown = JSON.parse((await runCli(['case', 'show', number!, '--json'], env)).stdout) as { requester: unknown; timeline: { type: string; direction?: string; kind: string | null; to?: string[] }[] };
    expect(shown.requester).toEqual({ address: 'carol@acme.example', name: 'Carol Newcomer' });
    expect(shown.timeline).toContainEqual(expect.objectContaining({ type: 'message', direction: 'outbound', kind: 'acknowledgement', to: ['carol@acme.example'] }));

    // Released once: the message is no longer held.
    const twice = await runCli(['held', 'release', String(id)], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`message ${id} is not held (it is released)`);
  }, CLI_TIMEOUT);

  it('a release the directory still refuses is held again, with its reason, as a new held message', async () => {
    const env = await setup();
    const id = await ingestHeld(env, readFileSync(FIXTURE));
    const released = await runCli(['held', 'release', String(id)], env);
    expect(released.stdout.trim()).toBe(`message ${id} released: held again (unknown_sender)`);
    expect(released.code).toBe(0);
    const list = JSON.parse((await runCli(['held', 'list', '--json'], env)).stdout) as { id: number; reason: string }[];
    expect(list).toEqual([expect.objectContaining({ reason: 'unknown_sender' })]);
    expect(list[0]!.id).not.toBe(id);
    expect((await heldShow(env, id)).reason).toBe(`released as message ${list[0]!.id}`);
  }, CLI_TIMEOUT);
});
