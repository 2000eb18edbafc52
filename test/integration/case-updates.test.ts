// Case updates that set the same columns are written as ONE `update ... from unnest(...)` (the
// sweep's reminders, a group's replies): every case gets exactly its own values, columns a plan
// does not set stay as they were, an explicit null is written as null, and an escalation keeps
// the case's first instant. The statement's text depends on which columns are set, not on how
// many cases: one statement per set of columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { caseUpdateStatements, caseUpdateValues, PlanRows } from '../../src/cases/plan-rows.js';
import type { CaseChanges, CaseUpdate } from '../../src/cases/plan.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';

const SUPPORT = 'support@casemail.localhost';
const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [SUPPORT] };
const OPENED = new Date('2026-12-07T09:00:00Z');
const LATER = new Date('2026-12-07T11:00:00Z');

function changes(caseUpdates: CaseUpdate[]): CaseChanges {
  return { openCases: [], caseUpdates, participants: [], links: [], merges: [], events: [], mails: [], assignedEngineers: [], markBouncing: null, clearBouncing: null };
}

describe(`case updates on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  const settings = loadConfig({ env: {}, overrides: { calendar: { timeZone: 'UTC' } } }).settings;
  const ids: number[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    const handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => OPENED });
    for (let i = 0; i < 5; i++) {
      const r = await handler.handleAt(buildMail({ from: 'Bob Builder <bob@acme.example>', subject: `Question ${i}`, body: `How do I export report ${i}?\n\nBob\n` }), smtp, OPENED);
      const c = await tdb.db.selectFrom('cases').select('id').where('number', '=', r.caseNumbers[0]!).executeTakeFirstOrThrow();
      ids.push(Number(c.id));
    }
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('writes each case its own values in one statement per set of columns', async () => {
    const earlier = new Date('2026-12-07T10:00:00Z');
    await tdb.db.updateTable('cases').set({ escalated_at: earlier }).where('id', '=', ids[3]!).execute();
    const before = await tdb.db.selectFrom('cases').selectAll().where('id', 'in', ids).orderBy('id').execute();
    const updates: CaseUpdate[] = [
      { caseId: ids[0]!, slaWarnedAt: new Date('2026-12-07T10:01:00Z') },
      { caseId: ids[1]!, slaWarnedAt: new Date('2026-12-07T10:02:00Z') },
      { caseId: ids[2]!, state: { state: 'awaiting_customer', stateEnteredAt: LATER, autoCloseAt: null, nextReminderAt: new Date('2026-12-09T11:00:00Z') }, assigneeEngineerId: null },
      { caseId: ids[3]!, escalatedAt: LATER },
      { caseId: ids[4]!, escalatedAt: LATER },
    ];
    const statements = caseUpdateStatements(updates.map((u) => ({ caseId: u.caseId, set: caseUpdateValues(u, LATER) })));
    expect(statements).toHaveLength(3);

    const rows = new PlanRows();
    rows.addChanges(changes(updates), null, LATER);
    await tdb.db.transaction().execute((trx) => rows.write(trx));

    const after = await tdb.db.selectFrom('cases').selectAll().where('id', 'in', ids).orderBy('id').execute();
    const [a0, a1, a2, a3, a4] = after;
    const [b0, , b2] = before;
    expect(a0!.sla_warned_at).toEqual(new Date('2026-12-07T10:01:00Z'));
    expect(a1!.sla_warned_at).toEqual(new Date('2026-12-07T10:02:00Z'));
    expect({ ...a0, sla_warned_at: null, updated_at: null }).toEqual({ ...b0, sla_warned_at: null, updated_at: null });
    expect(a0!.updated_at).toEqual(LATER);
    expect(a2).toMatchObject({ state: 'awaiting_customer', state_entered_at: LATER, auto_close_at: null, next_reminder_at: new Date('2026-12-09T11:00:00Z'), assignee_engineer_id: null });
    expect(a2!.severity).toBe(b2!.severity);
    expect(a2!.first_response_due_at).toEqual(b2!.first_response_due_at);
    expect(a3!.escalated_at).toEqual(earlier);
    expect(a4!.escalated_at).toEqual(LATER);
  });

  it('has the same text for one case and for many that set the same columns', () => {
    const one = caseUpdateStatements([{ caseId: 1, set: caseUpdateValues({ caseId: 1, slaBreachedAt: LATER }, LATER) }]);
    const many = caseUpdateStatements(ids.map((id) => ({ caseId: id, set: caseUpdateValues({ caseId: id, slaBreachedAt: LATER }, LATER) })));
    expect(many).toHaveLength(1);
    expect(many[0]!.compile(tdb.db).sql).toBe(one[0]!.compile(tdb.db).sql);
  });
});
