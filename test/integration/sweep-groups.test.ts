// The sweep writes due cases a group per transaction (and prunes the automatic-mail log as it goes); a group that fails is done again case by
// case, so one case the database refuses never holds the others back, and the next tick tries it
// again. The failure is real: a trigger in the test's own database refuses updates of one case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { sweep } from '../../src/schedule/sweep.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';

const SUPPORT = 'support@casemail.localhost';
const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [SUPPORT] };
const OPENED = new Date('2026-12-07T09:00:00Z');

describe(`sweep groups on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  const settings = loadConfig({ env: {}, overrides: { calendar: { timeZone: 'UTC' } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('a case the database refuses fails alone: the others in its group are acted on, and the next tick acts on it once it can', async () => {
    const handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => OPENED });
    const numbers: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await handler.handleAt(buildMail({ from: 'Bob Builder <bob@acme.example>', subject: `Production down ${i}`, body: `Production down: server ${i} does not start.\n\nBob\n` }), smtp, OPENED);
      numbers.push(...r.caseNumbers);
    }
    expect(numbers).toHaveLength(3);
    const cases = await tdb.db.selectFrom('cases').select(['id', 'number', 'severity']).where('number', 'in', numbers).orderBy('number').execute();
    expect(cases.every((c) => c.severity === 1)).toBe(true);
    const refused = cases[1]!.id;
    await sql`create function refuse_case() returns trigger language plpgsql as $$ begin raise exception 'refused by the test'; end $$`.execute(tdb.db);
    await sql.raw(`create trigger refuse_one before update on cases for each row when (old.id = ${refused}) execute function refuse_case()`).execute(tdb.db);

    const deps = { db: tdb.db, settings, logger: silentLogger };
    const breach = new Date(OPENED.getTime() + 31 * 60_000); // severity 1: 30 minutes around the clock
    const first = await sweep(deps, breach);
    expect(first).toMatchObject({ due: 3, acted: 2, failed: 1, mailsQueued: 2 });
    const breached = await tdb.db.selectFrom('cases').select(['id']).where('id', 'in', cases.map((c) => c.id)).where('sla_breached_at', 'is not', null).execute();
    expect(breached.map((c) => c.id).sort()).toEqual(cases.filter((c) => c.id !== refused).map((c) => c.id).sort());

    await sql`drop trigger refuse_one on cases`.execute(tdb.db);
    const second = await sweep(deps, new Date(breach.getTime() + 60_000));
    expect(second).toMatchObject({ due: 1, acted: 1, failed: 0, mailsQueued: 1 });
    const mails = await tdb.db.selectFrom('outbox').select(['case_id']).where('kind', '=', 'sla-breach').execute();
    expect(mails.map((m) => Number(m.case_id)).sort()).toEqual(cases.map((c) => c.id).sort());
  });

  it('three sweeps at the same instant (three instances) act on each due case once: no doubled mail', async () => {
    const at = new Date('2026-12-14T09:00:00Z');
    const handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => at });
    const numbers: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await handler.handleAt(buildMail({ from: 'Bob Builder <bob@acme.example>', subject: `Cluster down ${i}`, body: `Production down: cluster ${i} does not start.\n\nBob\n` }), smtp, at);
      numbers.push(...r.caseNumbers);
    }
    expect(numbers).toHaveLength(60);
    const ids = (await tdb.db.selectFrom('cases').select('id').where('number', 'in', numbers).execute()).map((c) => c.id);
    const breach = new Date(at.getTime() + 31 * 60_000);
    const deps = { db: tdb.db, settings, logger: silentLogger };
    const results = await Promise.all([sweep(deps, breach), sweep(deps, breach), sweep(deps, breach)]);
    // Together they acted on all 60; a case one sweep had locked was skipped by the others, not done twice.
    expect(results.reduce((n, r) => n + r.acted, 0)).toBe(60);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    const mails = await tdb.db.selectFrom('outbox').select(['case_id']).where('kind', '=', 'sla-breach').where('case_id', 'in', ids).execute();
    expect(mails).toHaveLength(60);
    expect(new Set(mails.map((m) => Number(m.case_id))).size).toBe(60);
    const again = await sweep(deps, breach);
    expect(again).toMatchObject({ acted: 0, mailsQueued: 0 });
  });

  it('prunes the automatic-mail log of rows the hourly limit never reads again, and keeps the last hours', async () => {
    const now = new Date('2026-12-10T12:00:00Z');
    const at = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * 60_000);
    await tdb.db.insertInto('automatic_mail_log').values([
      { address: 'old@acme.example', at: at(24 * 60), outbox_id: null },
      { address: 'old@acme.example', at: at(121), outbox_id: null },
      { address: 'recent@acme.example', at: at(119), outbox_id: null },
      { address: 'recent@acme.example', at: at(5), outbox_id: null },
    ]).execute();
    await sweep({ db: tdb.db, settings, logger: silentLogger }, now);
    const left = await tdb.db.selectFrom('automatic_mail_log').select(['address']).where('address', 'in', ['old@acme.example', 'recent@acme.example']).execute();
    expect(left.map((r) => r.address)).toEqual(['recent@acme.example', 'recent@acme.example']);
  });
});
