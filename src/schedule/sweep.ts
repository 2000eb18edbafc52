// The timer sweep: finds the cases whose deadlines are due at `now` with indexed queries, and acts
// on each in its own transaction (row locked FOR UPDATE SKIP LOCKED, facts read, the pure
// decideTimers, applyCaseChanges). Any number of sweeps may run at once, in one process or many:
// a locked case is skipped, a committed one is no longer due, and every mail's cause key names the
// deadline instant, so an instant sends one mail. All I/O here; time comes in as `now`.
import { sql, type RawBuilder } from 'kysely';
import type { CasemailSettings } from '../config/config.js';
import type { Db, Trx } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { replyAddressFor } from '../threading/reply-token.js';
import { CASE_FACTS_FROM, CASE_FACTS_SELECT, caseFactsOf, unassignedRecipients, type CaseFactsRow } from '../cases/intake-facts.js';
import { decideTimers, type SweepFacts, type TimerCaseFacts } from '../cases/actions/timers.js';
import { applyCaseChanges } from '../cases/apply-plan.js';

export interface SweepDeps {
  db: Db;
  settings: CasemailSettings;
  logger: Logger;
  replyTokenSecret?: string | null;
  /** Cases handled at once (each in its own transaction and connection); default 8. */
  concurrency?: number;
}

export interface SweepResult {
  /** Cases the due-queries returned. */
  due: number;
  /** Cases acted on (a change committed). */
  acted: number;
  /** Cases another sweep held locked, or no longer due once locked. */
  skipped: number;
  /** Outbox rows written. */
  mailsQueued: number;
  /** Events written, by kind. */
  events: Record<string, number>;
  /** Cases whose transaction failed (logged; retried by the next tick). */
  failed: number;
  /** Whether the batch limit cut the due list (the next tick goes on). */
  more: boolean;
}

/**
 * The due-queries: one per deadline, each served by its partial index (see the timers migration),
 * so a tick with nothing due reads nothing but index pages.
 */
export async function dueCaseIds(db: Db | Trx, now: Date, limit: number): Promise<number[]> {
  const r = await dueCasesQuery(now, limit).execute(db);
  return r.rows.map((x) => Number(x.id));
}

/** dueCaseIds' statement, unexecuted (the bench explains it). */
export function dueCasesQuery(now: Date, limit: number): RawBuilder<{ id: string }> {
  return sql<{ id: string }>`
    select id from (
      (select id, sla_warning_due_at as at from cases
        where first_response_at is null and sla_warned_at is null and sla_breached_at is null and state <> 'closed'
          and sla_warning_due_at <= ${now} order by sla_warning_due_at limit ${limit})
      union all
      (select id, first_response_due_at as at from cases
        where first_response_at is null and sla_breached_at is null and state <> 'closed'
          and first_response_due_at <= ${now} order by first_response_due_at limit ${limit})
      union all
      (select id, auto_close_at as at from cases where auto_close_at is not null and auto_close_at <= ${now} order by auto_close_at limit ${limit})
      union all
      (select id, next_reminder_at as at from cases where next_reminder_at is not null and next_reminder_at <= ${now} order by next_reminder_at limit ${limit})
    ) due group by id order by min(at) limit ${limit}`;
}

interface TimerFactsRow extends CaseFactsRow {
  state_entered_at: Date; sla_warning_due_at: Date | null; sla_warned_at: Date | null; sla_breached_at: Date | null;
  auto_close_at: Date | null; auto_close_reason: string | null; next_reminder_at: Date | null; requester_name: string | null; requester_address: string | null;
}

/**
 * The per-case read: locks the case row (nothing when another sweep holds it) and reads the case's
 * facts, its deadlines and its requester in one statement. Unexecuted, so the bench can explain it.
 */
export function lockTimerFactsQuery(caseId: number): RawBuilder<TimerFactsRow> {
  return sql<TimerFactsRow>`
    select ${CASE_FACTS_SELECT}, c.state_entered_at, c.sla_warning_due_at, c.sla_warned_at, c.sla_breached_at, c.auto_close_at, c.auto_close_reason,
           c.next_reminder_at, k.name as requester_name, k.address as requester_address
      from ${CASE_FACTS_FROM} left join contacts k on k.id = c.requester_contact_id
     where c.id = ${caseId}
       for update of c skip locked`;
}

/** Locks the case row (or returns null when another sweep holds it) and reads everything the decision needs. */
async function lockTimerFacts(trx: Trx, caseId: number): Promise<TimerCaseFacts | null> {
  const row = (await lockTimerFactsQuery(caseId).execute(trx)).rows[0];
  if (!row) return null;
  return {
    case: caseFactsOf(row),
    requester: row.requester_address ? { name: row.requester_name ?? '', address: row.requester_address } : null,
    stateEnteredAt: row.state_entered_at, slaWarningDueAt: row.sla_warning_due_at, slaWarnedAt: row.sla_warned_at,
    slaBreachedAt: row.sla_breached_at, autoCloseAt: row.auto_close_at, autoCloseReason: row.auto_close_reason, nextReminderAt: row.next_reminder_at,
  };
}

/** What every case of this tick shares: gathered once. */
async function sweepFacts(deps: SweepDeps, now: Date): Promise<SweepFacts> {
  const { db, settings } = deps;
  const secret = deps.replyTokenSecret ?? null;
  const supervisors = (await db.selectFrom('engineers').select('address').where('active', '=', true).where('role', '=', 'supervisor').orderBy('address').execute())
    .map((e) => e.address);
  return {
    settings, now, supervisors,
    unassigned: await unassignedRecipients(db, settings),
    replyAddress: (n) => (secret && settings.replyTokens.enabled ? replyAddressFor(settings.addresses.support, secret, n) : settings.addresses.support),
  };
}

type CaseOutcome = { kind: 'acted'; mails: number; events: string[] } | { kind: 'skipped' } | { kind: 'failed' };

async function sweepCase(deps: SweepDeps, facts: SweepFacts, caseId: number): Promise<CaseOutcome> {
  try {
    return await deps.db.transaction().execute(async (trx): Promise<CaseOutcome> => {
      const timers = await lockTimerFacts(trx, caseId);
      if (!timers) return { kind: 'skipped' };
      const changes = decideTimers(timers, facts);
      if (!changes) return { kind: 'skipped' };
      const { mailsQueued } = await applyCaseChanges(trx, changes, {
        now: facts.now, messageIdDomain: deps.settings.messageIdDomain,
        maxAutomaticPerAddressPerHour: deps.settings.limits.maxAutomaticMailPerAddressPerHour,
        maxAutomaticPerEngineerPerHour: deps.settings.limits.maxAutomaticMailPerEngineerPerHour, logger: deps.logger,
      });
      return { kind: 'acted', mails: mailsQueued, events: changes.events.map((e) => e.kind) };
    });
  } catch (err) {
    deps.logger.error({ err, caseId }, 'timer sweep: acting on a case failed; the next tick tries again');
    return { kind: 'failed' };
  }
}

/** One sweep at `now`: acts on every due case (up to settings.timers.sweepBatch). */
export async function sweep(deps: SweepDeps, now: Date): Promise<SweepResult> {
  const limit = deps.settings.timers.sweepBatch;
  const ids = await dueCaseIds(deps.db, now, limit);
  const result: SweepResult = { due: ids.length, acted: 0, skipped: 0, mailsQueued: 0, events: {}, failed: 0, more: ids.length >= limit };
  if (ids.length === 0) return result;
  const facts = await sweepFacts(deps, now);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const o = await sweepCase(deps, facts, id);
      if (o.kind === 'acted') {
        result.acted += 1;
        result.mailsQueued += o.mails;
        for (const k of o.events) result.events[k] = (result.events[k] ?? 0) + 1;
      } else if (o.kind === 'skipped') result.skipped += 1;
      else result.failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency ?? 8, ids.length)) }, worker));
  return result;
}
