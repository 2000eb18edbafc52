// The timer sweep: finds the cases whose deadlines are due at `now` with indexed queries, and acts
// on them a small group per transaction (rows locked FOR UPDATE SKIP LOCKED, facts read, the pure
// decideTimers per case, applyCaseChanges). Any number of sweeps may run at once, in one process or many:
// a locked case is skipped, a committed one is no longer due, and every mail's cause key names the
// deadline instant, so an instant sends one mail. All I/O here; time comes in as `now`.
import { sql, type RawBuilder } from 'kysely';
import type { CasemailSettings } from '../config/config.js';
import type { Db, Trx } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { replyAddressFor } from '../threading/reply-token.js';
import { activeSupervisors, CASE_FACTS_FROM, CASE_FACTS_SELECT, caseFactsOf, unassignedRecipients, type CaseFactsRow } from '../cases/intake-facts.js';
import { decideTimers, type SweepFacts, type TimerCaseFacts } from '../cases/actions/timers.js';
import { applyCaseChanges } from '../cases/apply-plan.js';
import { noChanges, type CaseChanges } from '../cases/plan.js';
import { pruneAutomaticMailLog } from '../notify/outbox-store.js';

export interface SweepDeps {
  db: Db;
  settings: CasemailSettings;
  logger: Logger;
  replyTokenSecret?: string | null;
  /** Groups of cases handled at once (each group in its own transaction and connection); default 4. */
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
 * The locking read: locks the cases' rows (a row another sweep holds is skipped) and reads each
 * case's facts, deadlines and requester in one statement. Unexecuted, so the bench can explain it.
 */
export function lockTimerFactsQuery(caseIds: readonly number[]): RawBuilder<TimerFactsRow> {
  return sql<TimerFactsRow>`
    select ${CASE_FACTS_SELECT}, c.state_entered_at, c.sla_warning_due_at, c.sla_warned_at, c.sla_breached_at, c.auto_close_at, c.auto_close_reason,
           c.next_reminder_at, k.name as requester_name, k.address as requester_address
      from ${CASE_FACTS_FROM} left join contacts k on k.id = c.requester_contact_id
     where c.id = any(${caseIds.map(String)}::bigint[])
     order by c.id
       for update of c skip locked`;
}

/** Locks the cases' rows (skipping those another sweep holds) and reads everything the decisions need. */
async function lockTimerFacts(trx: Trx, caseIds: readonly number[]): Promise<TimerCaseFacts[]> {
  return (await lockTimerFactsQuery(caseIds).execute(trx)).rows.map(timerFactsOf);
}

function timerFactsOf(row: TimerFactsRow): TimerCaseFacts {
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
  const supervisors = await activeSupervisors(db);
  return {
    settings, now, supervisors,
    unassigned: await unassignedRecipients(db, settings),
    replyAddress: (n) => (secret && settings.replyTokens.enabled ? replyAddressFor(settings.addresses.support, secret, n) : settings.addresses.support),
  };
}

/** What one transaction did. */
interface GroupOutcome { acted: number; skipped: number; failed: number; mails: number; events: string[] }

/**
 * Cases written in one transaction. Each case's state change, events and outbox rows always commit
 * together; grouping a few cases per transaction cuts the round trips per case about eightfold (the
 * sweep bench: 1,000 due cases in well under a second). A group that fails is done again case by
 * case, so one bad case never holds the others back.
 */
const GROUP_SIZE = 25;

async function sweepGroup(deps: SweepDeps, facts: SweepFacts, caseIds: readonly number[]): Promise<GroupOutcome> {
  return deps.db.transaction().execute(async (trx): Promise<GroupOutcome> => {
    const out: GroupOutcome = { acted: 0, skipped: caseIds.length, failed: 0, mails: 0, events: [] };
    const all = noChanges();
    for (const timers of await lockTimerFacts(trx, caseIds)) {
      const changes = decideTimers(timers, facts);
      if (!changes) continue;
      out.acted += 1;
      out.skipped -= 1;
      out.events.push(...changes.events.map((e) => e.kind));
      for (const key of Object.keys(all) as (keyof CaseChanges)[]) {
        const mine = changes[key];
        if (Array.isArray(mine)) (all[key] as unknown[]).push(...mine);
      }
    }
    if (out.acted === 0) return out;
    const { mailsQueued } = await applyCaseChanges(trx, all, {
      now: facts.now, messageIdDomain: deps.settings.messageIdDomain,
      maxAutomaticPerAddressPerHour: deps.settings.limits.maxAutomaticMailPerAddressPerHour,
      maxAutomaticPerEngineerPerHour: deps.settings.limits.maxAutomaticMailPerEngineerPerHour, logger: deps.logger,
    });
    out.mails = mailsQueued;
    return out;
  });
}

async function sweepGroupOrEach(deps: SweepDeps, facts: SweepFacts, caseIds: readonly number[]): Promise<GroupOutcome> {
  try {
    return await sweepGroup(deps, facts, caseIds);
  } catch (err) {
    if (caseIds.length === 1) {
      deps.logger.error({ err, caseId: caseIds[0] }, 'timer sweep: acting on a case failed; the next tick tries again');
      return { acted: 0, skipped: 0, failed: 1, mails: 0, events: [] };
    }
    deps.logger.warn({ err, cases: caseIds.length }, 'timer sweep: a group of cases failed; doing them one by one');
    const sum: GroupOutcome = { acted: 0, skipped: 0, failed: 0, mails: 0, events: [] };
    for (const id of caseIds) {
      const o = await sweepGroupOrEach(deps, facts, [id]);
      sum.acted += o.acted; sum.skipped += o.skipped; sum.failed += o.failed; sum.mails += o.mails; sum.events.push(...o.events);
    }
    return sum;
  }
}

/** One sweep at `now`: acts on every due case (up to settings.timers.sweepBatch). */
export async function sweep(deps: SweepDeps, now: Date): Promise<SweepResult> {
  // Housekeeping that rides on the tick: the hourly limit reads only its last hour (two kept for clock skew).
  await pruneAutomaticMailLog(deps.db, new Date(now.getTime() - 2 * 3_600_000));
  const limit = deps.settings.timers.sweepBatch;
  const ids = await dueCaseIds(deps.db, now, limit);
  const result: SweepResult = { due: ids.length, acted: 0, skipped: 0, mailsQueued: 0, events: {}, failed: 0, more: ids.length >= limit };
  if (ids.length === 0) return result;
  const facts = await sweepFacts(deps, now);
  const groups: number[][] = [];
  for (let i = 0; i < ids.length; i += GROUP_SIZE) groups.push(ids.slice(i, i + GROUP_SIZE));
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const o = await sweepGroupOrEach(deps, facts, groups[next++]!);
      result.acted += o.acted;
      result.skipped += o.skipped;
      result.failed += o.failed;
      result.mailsQueued += o.mails;
      for (const k of o.events) result.events[k] = (result.events[k] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency ?? 4, groups.length)) }, worker));
  return result;
}
