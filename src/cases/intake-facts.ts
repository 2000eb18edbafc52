// Gathering the facts one intake decision needs, once, inside the intake's transaction: who sent
// the message, which case it refers to (with state, participants, assignee and thread), our mail
// a report is about, and what the route then needs (ids reserved for new cases, the engineer whose
// turn it is, a command's target). The only I/O of a decision; actions read nothing else.
import { sql } from 'kysely';
import { ownAddresses, type CasemailSettings } from '../config/config.js';
import type { DbOrTrx, Trx } from '../db/database.js';
import type { CaseState } from '../db/schema.js';
import type { IntakeSource } from '../ingest/intake-types.js';
import { findSender, entitledContactsOf, senderFrom, senderRowsQuery, type Sender, type SenderRow } from '../directory/directory-store.js';
import { originalMessageIds, recipientsOf } from '../threading/message-facts.js';
import { outboxIdFromReturnPath } from '../threading/return-path-token.js';
import { caseNumberFromReplyToken, replyAddressFor } from '../threading/reply-token.js';
import { escalationRefs } from '../threading/escalation-ref.js';
import { contactLines, type AdminCommand, type ContactLine } from '../threading/admin-commands.js';
import type { OurMail } from '../threading/bounce-trust.js';
import type { Understanding } from '../threading/understanding.js';
import { findOurMail } from './message-store.js';
import { lockSender, senderActivityColumns, tryLockSender } from './case-store.js';
import { GroupNewRequests } from './group-new-requests.js';

export interface Participant {
  address: string;
  contactId: number | null;
  role: 'requester' | 'cc' | 'organisation';
  /** Our mail to this address bounced permanently: it is not written to again. */
  bouncing: boolean;
}

export interface EngineerRef {
  id: number;
  address: string;
  name: string;
  active: boolean;
}

/** A case as decisions see it. */
export interface CaseFacts {
  id: number;
  number: number;
  subject: string;
  organisationId: number;
  organisationName: string;
  organisationTimeZone: string;
  state: CaseState;
  severity: 1 | 2 | 3;
  openedAt: Date;
  closedAt: Date | null;
  firstResponseAt: Date | null;
  firstResponseDueAt: Date;
  assignee: EngineerRef | null;
  participants: Participant[];
  /** The case's first inbound Message-ID and the newest one a customer sent: a relay answers the latter. */
  thread: { first: string | null; lastFromCustomer: string | null };
}

export interface ReferencedCaseFacts extends CaseFacts {
  /** How it was found: In-Reply-To/References, the reply token in the address, or the subject tag. */
  via: 'headers' | 'token' | 'subject';
  /** The case the reference named, when that one was merged into this one. */
  mergedFrom: number | null;
}

export interface IntakeFacts {
  now: Date;
  settings: CasemailSettings;
  /** The inbound message's row id, reserved from its sequence: cause keys and events name it. */
  messageRowId: number;
  source: IntakeSource;
  understanding: Understanding;
  fromAddress: string | null;
  sender: Sender;
  recipients: string[];
  ourMail: OurMail[];
  referenced: ReferencedCaseFacts | null;
  /** Where replies to a case's mail go (reply token or the support address). */
  replyAddress: (caseNumber: number) => string;
  /** Every address the service owns: never a recipient of what it sends. */
  ownAddresses: string[];
  /**
   * The sender's lock (lockSender): `held` by this transaction already (lockSendersAndRead, a
   * group's at once); `take` it when a new request needs it; `try` it without waiting (a group
   * holding other senders' locks must not wait out of order: that could deadlock with another
   * group), failing with SenderLockBusyError so the group is redone message by message. Unset: take.
   */
  senderLock?: 'held' | 'take' | 'try';
  /** In a group: new-request facts read for the whole group at once (prefetchNewRequests). */
  newRequests?: GroupNewRequests;
}

/** A group could not take a sender's lock without waiting; nothing of it is kept, each message is handled alone. */
export class SenderLockBusyError extends Error {
  readonly code = 'sender_lock_busy';
  constructor(address: string) {
    super(`the lock of sender ${address} is held by another intake`);
  }
}

const MERGE_HOPS = 5;

export async function gatherFacts(
  trx: Trx,
  input: {
    understanding: Understanding; source: IntakeSource; now: Date; settings: CasemailSettings; replyTokenSecret: string | null;
    /** The inbound row's id when already reserved (reserveMessageIds, a group's at once); else reserved here. */
    messageRowId?: number;
    /** The senders already read (lockSendersAndRead, a group's at once); else read here. */
    senders?: ReadonlyMap<string, Sender>;
    /** In a group: the senders whose locks this transaction holds (lockSendersAndRead); others are only tried. */
    lockedSenders?: ReadonlySet<string>;
    /** In a group: new-request facts read for the whole group at once (prefetchNewRequests). */
    newRequests?: GroupNewRequests;
  },
): Promise<IntakeFacts> {
  const { understanding: u, source, now, settings } = input;
  const parsed = u.parsed;
  const secret = input.replyTokenSecret && settings.replyTokens.enabled ? input.replyTokenSecret : null;
  const fromAddress = parsed.from?.address?.toLowerCase() || null;
  const known = fromAddress ? input.senders?.get(fromAddress) : undefined;
  const [messageRowId, sender] = await Promise.all([
    input.messageRowId ?? reserveMessageIds(trx, 1).then((ids) => ids[0]!),
    known ?? (fromAddress ? findSender(trx, fromAddress, now) : Promise.resolve<Sender>({ kind: 'unknown', address: '' })),
  ]);
  const recipients = recipientsOf(parsed, source.envelopeRecipients);
  const ourMail = u.classify.automated ? await findOurMailFor(trx, u, recipients, settings, secret) : [];
  const referenced = await findReferencedCase(trx, u, recipients, ourMail, settings, secret);
  return {
    now, settings, messageRowId, source, understanding: u, fromAddress, sender, recipients, ourMail, referenced,
    ownAddresses: ownAddresses(settings),
    ...(input.newRequests ? { newRequests: input.newRequests } : {}),
    senderLock: input.lockedSenders ? (fromAddress && input.lockedSenders.has(fromAddress) ? 'held' : 'try') : 'take',
    replyAddress: (n) => (secret ? replyAddressFor(settings.addresses.support, secret, n) : settings.addresses.support),
  };
}

async function findOurMailFor(trx: Trx, u: Understanding, recipients: readonly string[], settings: CasemailSettings, secret: string | null): Promise<OurMail[]> {
  const parsed = u.parsed;
  const outboxId = secret ? outboxIdFromReturnPath(recipients, settings.addresses.support, secret) : null;
  const messageIds = [...originalMessageIds(parsed), ...(parsed.inReplyTo ? [parsed.inReplyTo] : []), ...parsed.references];
  return findOurMail(trx, { outboxId, messageIds });
}

/**
 * Headers first, then the reply token, then the subject tag (spec section 3.5); merged cases lead
 * on to their target. ONE statement finds the case, follows its merges and reads its facts (a
 * reply is the common message: three round trips were the largest part of its cost), and none when
 * the message names no case at all.
 */
async function findReferencedCase(
  trx: Trx, u: Understanding, recipients: readonly string[], ourMail: readonly OurMail[], settings: CasemailSettings, secret: string | null,
): Promise<ReferencedCaseFacts | null> {
  const parsed = u.parsed;
  const headerIds = [...(parsed.inReplyTo ? [parsed.inReplyTo] : []), ...parsed.references];
  if (u.classify.automated) headerIds.push(...originalMessageIds(parsed));
  const ours = ourMail.find((m) => m.caseId !== null)?.caseId ?? null;
  const ids = [...new Set(headerIds.filter(Boolean))].slice(0, 200);
  const byToken = secret ? caseNumberFromReplyToken(recipients, settings.addresses.support, secret) : null;
  // Threading trusts the subject tag only; a number in the body is for escalations.
  const bySubject = u.caseRef?.source === 'subject' ? u.caseRef.number : null;
  const number = byToken ?? bySubject;
  if (ours === null && ids.length === 0 && number === null) return null;
  const numberVia: ReferencedCaseFacts['via'] = byToken !== null ? 'token' : 'subject';
  // The first that names a case wins: our mail a report is about, the newest stored message or
  // outbox row with one of the header Message-IDs, then the case number.
  const r = await sql<CaseFactsRow & { start_id: string; via: ReferencedCaseFacts['via'] }>`
    with recursive start as (
      select s.id, s.via from (
        select ${ours}::bigint as id, 'headers' as via, 1 as rank where ${ours}::bigint is not null
        union all (select m.case_id, 'headers', 2 from messages m where m.message_id_header = any(${ids}::text[]) and m.case_id is not null order by m.id desc limit 1)
        union all (select o.case_id, 'headers', 3 from outbox o where o.message_id_header = any(${ids}::text[]) and o.case_id is not null order by o.id desc limit 1)
        union all select k.id, ${numberVia}::text, 4 from cases k where k.number = ${number}::bigint
      ) s order by s.rank limit 1),
    chain (id, hop) as (
      select id, 0 from start
      union all
      select x.linked_case_id, chain.hop + 1 from chain
        cross join lateral (select l.linked_case_id from case_links l where l.case_id = chain.id and l.kind = 'merged_into' limit 1) x
       where chain.hop < ${MERGE_HOPS}::int),
    target as (select id from chain order by hop desc limit 1)
    select start.id as start_id, start.via, ${CASE_FACTS_SELECT}
      from start, target, ${CASE_FACTS_FROM} where c.id = target.id`.execute(trx);
  const row = r.rows[0];
  if (!row) return null;
  const c = caseFactsOf(row);
  return { ...c, via: row.via, mergedFrom: c.id === Number(row.start_id) ? null : Number(row.start_id) };
}

/** The columns loadCase reads, as a row. */
export interface CaseFactsRow {
  id: string; number: string; subject: string; organisation_id: string; org_name: string; time_zone: string; state: CaseState;
  severity: number; opened_at: Date; closed_at: Date | null; first_response_at: Date | null; first_response_due_at: Date;
  assignee_id: string | null; assignee_address: string | null; assignee_name: string | null; assignee_active: boolean | null;
  participants: Participant[]; first_mid: string | null; last_mid: string | null;
}

/**
 * The select list and joins of a case's facts (`c` is the case, `o` its organisation, `e` its
 * assignee), shared by loadCase and the timer sweep's locking read, so both see a case alike.
 */
export const CASE_FACTS_SELECT = sql`c.id, c.number, c.subject, c.organisation_id, o.name as org_name, o.time_zone, c.state, c.severity, c.opened_at,
           c.closed_at, c.first_response_at, c.first_response_due_at,
           e.id as assignee_id, e.address as assignee_address, e.name as assignee_name, e.active as assignee_active,
           (select coalesce(json_agg(json_build_object('address', p.address, 'contactId', p.contact_id, 'role', p.role,
                                                       'bouncing', k.bouncing_since is not null) order by p.added_at, p.address), '[]'::json)
              from case_participants p left join contacts k on k.id = p.contact_id where p.case_id = c.id) as participants,
           (select m.message_id_header from messages m where m.case_id = c.id and m.direction = 'inbound'
              and m.message_id_header is not null order by m.id limit 1) as first_mid,
           (select m.message_id_header from messages m where m.case_id = c.id and m.direction = 'inbound' and m.status = 'processed'
              and m.sender_role in ('customer', 'org_admin') and m.message_id_header is not null order by m.id desc limit 1) as last_mid`;
export const CASE_FACTS_FROM = sql`cases c join organisations o on o.id = c.organisation_id left join engineers e on e.id = c.assignee_engineer_id`;

export function caseFactsOf(row: CaseFactsRow): CaseFacts {
  return {
    id: Number(row.id), number: Number(row.number), subject: row.subject, organisationId: Number(row.organisation_id),
    organisationName: row.org_name, organisationTimeZone: row.time_zone, state: row.state, severity: row.severity as 1 | 2 | 3,
    openedAt: row.opened_at, closedAt: row.closed_at, firstResponseAt: row.first_response_at, firstResponseDueAt: row.first_response_due_at,
    assignee: row.assignee_id === null ? null : { id: Number(row.assignee_id), address: row.assignee_address!, name: row.assignee_name!, active: row.assignee_active === true },
    participants: row.participants.map((p) => ({ ...p, contactId: p.contactId === null ? null : Number(p.contactId) })),
    thread: { first: row.first_mid, lastFromCustomer: row.last_mid },
  };
}

/** One case with its organisation, assignee, participants and thread, in one query. */
export async function loadCase(trx: Trx, caseId: number): Promise<CaseFacts | null> {
  const r = await sql<CaseFactsRow>`select ${CASE_FACTS_SELECT} from ${CASE_FACTS_FROM} where c.id = ${caseId}`.execute(trx);
  const row = r.rows[0];
  return row ? caseFactsOf(row) : null;
}

// ---------------------------------------------------------------- what some routes need besides

/** To/Cc addresses other than ours and the sender's: candidates for participants. */
export function ccAddresses(facts: IntakeFacts): string[] {
  const own = new Set(ownAddresses(facts.settings));
  const sender = facts.fromAddress ?? '';
  const parsed = facts.understanding.parsed;
  const all = [...parsed.to, ...parsed.cc].map((a) => a.address.toLowerCase()).filter((a) => a && !own.has(a) && a !== sender);
  return [...new Set(all)].slice(0, facts.settings.limits.maxRecipients);
}

/** CC'd entitled contacts of the organisation: they become participants. */
export async function ccContacts(trx: Trx, facts: IntakeFacts, organisationId: number): Promise<{ id: number; address: string; bouncing: boolean }[]> {
  return entitledContactsOf(trx, organisationId, ccAddresses(facts));
}

export interface NewRequestFacts {
  activity: { newCases: number; acknowledgements: number };
  cc: { id: number; address: string; bouncing: boolean }[];
  /** Whose turn it is (round-robin), or null (queue rule, or nobody to take it); `turnTaken`: this intake holds the turn and moves it on. */
  assignee: (EngineerRef & { turnTaken: boolean }) | null;
  /** Who hears of a case nobody is assigned to: the queue address, else every active engineer. */
  unassignedNotify: string[];
  /** The id and number of the request's first case (reserveCases adds any further ones). */
  firstCase: { id: number; number: number };
}

export async function gatherNewRequestFacts(trx: Trx, facts: IntakeFacts, organisationId: number, senderAddress: string): Promise<NewRequestFacts> {
  const { settings, now } = facts;
  if ((facts.senderLock ?? 'take') === 'take') await lockSender(trx, senderAddress);
  else if (facts.senderLock === 'try' && !(await tryLockSender(trx, senderAddress))) throw new SenderLockBusyError(senderAddress);
  // One read after the lock: the sender's counts and whose turn it is.
  const activityColumns = senderActivityColumns(trx, senderAddress, now, {
    newCases: settings.limits.maxNewCasesPerSenderPerHour, acknowledgements: settings.limits.maxAcknowledgementsPerSenderPerHour,
  });
  const roundRobin = settings.assignment.rule === 'round-robin';
  // A new request opens at least one case whatever the caps say: its id and number come with this read.
  const firstCase = sql`nextval(pg_get_serial_sequence('cases', 'id')) as case_id, nextval('case_number_seq') as case_number`;
  const r = await (roundRobin
    ? sql<ActivityAndTurnRow>`with ${turnCtes(trx, settings.assignment.team)}
        select ${activityColumns}, ${firstCase}, t.id, t.address, t.name, t.active, t.taken from (select 1) one left join turn t on true`
    : sql<ActivityAndTurnRow>`select ${activityColumns}, ${firstCase}`).execute(trx);
  const row = r.rows[0]!;
  const activity = { newCases: Number(row.cases), acknowledgements: Number(row.acks) };
  const firstCaseReserved = { id: Number(row.case_id), number: Number(row.case_number) };
  const assignee = roundRobin && row.id !== null && row.id !== undefined
    ? { id: Number(row.id), address: row.address!, name: row.name!, active: row.active === true, turnTaken: row.taken === true }
    : null;
  const cc = await ccContacts(trx, facts, organisationId);
  return { activity, cc, assignee, unassignedNotify: assignee ? [] : await unassignedRecipients(trx, settings), firstCase: firstCaseReserved };
}

interface ActivityAndTurnRow {
  cases: string; acks: string; case_id: string; case_number: string;
  id?: string | null; address?: string | null; name?: string | null; active?: boolean | null; taken?: boolean | null;
}

/**
 * The CTE `turn`: the engineer whose turn it is, the active engineer (role engineer) of the team
 * who was given a case longest ago, and `taken`: this intake holds the turn and moves it on. A row
 * another intake is assigning right now is skipped, so parallel new cases spread over the team
 * instead of queueing behind one lock; when everyone is being assigned, the next in turn is taken
 * without moving the turn on, so this intake never waits for another's commit.
 */
function turnCtes(trx: Trx, team: string | null) {
  const q = turnOrder(trx, team).limit(1);
  // NO KEY UPDATE: a case row naming this engineer (its foreign key check) does not wait for it.
  return sql`locked as (${q.forNoKeyUpdate().skipLocked()}),
    anyone as (${q}),
    turn as (select id, address, name, active, true as taken from locked
             union all select id, address, name, active, false from anyone where not exists (select 1 from locked))`;
}

/** The engineers who may take a case in turn: active, role engineer, of the team; least recently assigned first, then by id. */
function turnOrder(trx: Trx, team: string | null) {
  let q = trx.selectFrom('engineers').select(['id', 'address', 'name', 'active', 'last_assigned_at'])
    .where('active', '=', true).where('role', '=', 'engineer')
    .orderBy(sql`last_assigned_at asc nulls first`).orderBy('id');
  if (team) q = q.where('team', '=', team);
  return q;
}

/**
 * The new-request facts of a group's senders (their locks already held: lockSendersAndRead) in ONE
 * read, for `count` messages that may open a case: each sender's counts of the last hour, `count`
 * reserved first cases, the turn (up to `count` engineers, locked as turnCtes locks one at a time)
 * and who hears of unassigned cases (as unassignedRecipients). GroupNewRequests hands them out
 * message by message.
 */
export async function prefetchNewRequests(trx: Trx, senders: readonly string[], count: number, now: Date, settings: CasemailSettings): Promise<GroupNewRequests> {
  const roundRobin = settings.assignment.rule === 'round-robin';
  const addresses = [...new Set(senders.map((a) => a.toLowerCase()))].sort();
  const activity = senderActivityColumns(trx, sql<string>`s.address`, now, {
    newCases: settings.limits.maxNewCasesPerSenderPerHour, acknowledgements: settings.limits.maxAcknowledgementsPerSenderPerHour,
  });
  const order = turnOrder(trx, settings.assignment.team);
  const unassigned = settings.addresses.queue
    ? sql`array[${settings.addresses.queue}::text]`
    : sql`(select coalesce(array_agg(address order by address), '{}') from engineers where active)`;
  type TurnRow = { id: number; address: string; name: string; active: boolean; last_assigned_at: string | null };
  const r = await sql<{
    activity: { address: string; cases: number; acks: number }[]; reserved: { id: number; number: number }[];
    locked: TurnRow[]; anyone: TurnRow | null; unassigned: string[];
  }>`
    ${roundRobin ? sql`with locked as (${order.limit(Math.max(1, count)).forNoKeyUpdate().skipLocked()})` : sql``}
    select (select coalesce(json_agg(a), '[]'::json) from (select s.address, ${activity} from unnest(${addresses}::text[]) as s(address)) a) as activity,
           (select coalesce(json_agg(x order by x.id), '[]'::json) from (select nextval(pg_get_serial_sequence('cases', 'id')) as id, nextval('case_number_seq') as number
              from generate_series(1, ${count}::int)) x) as reserved,
           ${roundRobin ? sql`(select coalesce(json_agg(l), '[]'::json) from locked l) as locked, (select row_to_json(e) from (${order.limit(1)}) e) as anyone`
    : sql`'[]'::json as locked, null::json as anyone`},
           ${unassigned} as unassigned`.execute(trx);
  const row = r.rows[0]!;
  const engineer = (e: TurnRow) => ({ id: Number(e.id), address: e.address, name: e.name, active: e.active === true });
  return new GroupNewRequests({
    activity: new Map(row.activity.map((a) => [a.address, { newCases: Number(a.cases), acknowledgements: Number(a.acks) }])),
    reserved: row.reserved.map((x) => ({ id: Number(x.id), number: Number(x.number) })),
    locked: row.locked.map((e) => ({ ...engineer(e), lastAssignedAt: e.last_assigned_at === null ? null : new Date(e.last_assigned_at) })),
    anyone: row.anyone ? engineer(row.anyone) : null,
    roundRobin, unassignedNotify: row.unassigned,
  });
}

/** The addresses of the active supervisors (escalations and SLA breaches go to them). */
export async function activeSupervisors(db: DbOrTrx): Promise<string[]> {
  return (await db.selectFrom('engineers').select('address').where('active', '=', true).where('role', '=', 'supervisor').orderBy('address').execute())
    .map((e) => e.address);
}

/** The queue address, else every active engineer's. */
export async function unassignedRecipients(trx: DbOrTrx, settings: CasemailSettings): Promise<string[]> {
  if (settings.addresses.queue) return [settings.addresses.queue];
  return (await trx.selectFrom('engineers').select('address').where('active', '=', true).orderBy('address').execute()).map((e) => e.address);
}

/**
 * A group's senders in one statement: who each one is (findSender), and the locks (lockSender) of
 * those in `lock` taken in sorted order, so two groups never wait for each other crosswise. The
 * locks are held to the end of the transaction; the counts they guard are read by later
 * statements. Only senders whose message may open a case need one (mayOpenCase): a reply to a
 * case takes no lock, so groups of replies from the same customers do not queue behind each other.
 */
export async function lockSendersAndRead(
  trx: Trx, addresses: readonly string[], lock: readonly string[], now: Date, messageIds = 0,
): Promise<{ senders: Map<string, Sender>; locked: Set<string>; messageIds: number[] }> {
  const all = [...new Set(addresses.map((a) => a.toLowerCase()))].sort();
  const locked = new Set(lock.map((a) => a.toLowerCase()));
  if (all.length === 0 && messageIds === 0) return { senders: new Map(), locked, messageIds: [] };
  // The group's message row ids (reserveMessageIds) come with the same round trip.
  const r = await sql<{ locked: number; senders: SenderRow[]; ids: string[] | null }>`
    select (select count(pg_advisory_xact_lock(hashtext('casemail-sender:' || s.address)))
              from (select a.address from unnest(${[...locked].sort()}::text[]) as a(address) order by a.address) s) as locked,
           (select coalesce(json_agg(r), '[]'::json) from (${senderRowsQuery(all, now)}) r) as senders,
           (select array_agg(i.id order by i.id) from (select nextval(pg_get_serial_sequence('messages', 'id')) as id
              from generate_series(1, ${messageIds}::int)) i) as ids`.execute(trx);
  const rows = r.rows[0]?.senders ?? [];
  return { senders: new Map(all.map((a) => [a, senderFrom(a, rows)])), locked, messageIds: (r.rows[0]?.ids ?? []).map(Number) };
}

/**
 * Whether a message may become a new request, as far as the bytes tell: one that names no case (no
 * In-Reply-To or References, no case tag in the subject) and is not automatic. One that does is
 * most likely a reply; should its reference lead nowhere, its new request tries the lock then.
 */
export function mayOpenCase(u: Understanding): boolean {
  const p = u.parsed;
  if (u.classify.automated) return false;
  return !(p.inReplyTo || p.references.length > 0 || u.caseRef?.source === 'subject');
}

/** Ids for `count` inbound message rows, from their sequence (cause keys and events name a message before its row is written). */
export async function reserveMessageIds(trx: Trx, count: number): Promise<number[]> {
  const r = await sql<{ id: string }>`
    select nextval(pg_get_serial_sequence('messages', 'id')) as id from generate_series(1, ${count}::int) order by 1`.execute(trx);
  return r.rows.map((x) => Number(x.id));
}

/** Ids and numbers for `count` new cases, from the sequences (numbers are never reused, even on rollback). */
export async function reserveCases(trx: Trx, count: number): Promise<{ id: number; number: number }[]> {
  if (count <= 0) return [];
  const r = await sql<{ id: string; number: string }>`
    select nextval(pg_get_serial_sequence('cases', 'id')) as id, nextval('case_number_seq') as number
      from generate_series(1, ${count}::int) order by 1`.execute(trx);
  return r.rows.map((x) => ({ id: Number(x.id), number: Number(x.number) }));
}

export async function findEngineer(trx: Trx, address: string): Promise<EngineerRef | null> {
  const row = await trx.selectFrom('engineers').select(['id', 'address', 'name', 'active']).where('address', '=', address.toLowerCase()).executeTakeFirst();
  return row ? { id: Number(row.id), address: row.address, name: row.name, active: row.active } : null;
}

export async function findCaseByNumber(trx: Trx, number: number): Promise<CaseFacts | null> {
  const c = await trx.selectFrom('cases').select('id').where('number', '=', number).executeTakeFirst();
  return c ? loadCase(trx, Number(c.id)) : null;
}

/**
 * The cases a permanent bounce is news for: those the bounced mail was about, and every other
 * not-closed case where a bounced address is a customer participant (newest first, at most 50).
 */
export async function casesReachedBy(trx: Trx, addresses: readonly string[], aboutCaseIds: readonly number[]): Promise<CaseFacts[]> {
  if (addresses.length === 0) return [];
  const rows = await trx.selectFrom('case_participants as p').innerJoin('cases as c', 'c.id', 'p.case_id')
    .select('c.id').distinct()
    .where('p.address', 'in', addresses.map((a) => a.toLowerCase())).where('c.state', '<>', 'closed')
    .orderBy('c.id', 'desc').limit(50).execute();
  const ids = [...new Set([...aboutCaseIds, ...rows.map((r) => Number(r.id))])];
  const cases = await Promise.all(ids.map((id) => loadCase(trx, id)));
  return cases.filter((c): c is CaseFacts => c !== null);
}

// ---------------------------------------------------------------- escalations (spec section 7)

/** A message on a case as the escalation notice quotes it. */
export interface CaseMessageFacts {
  from: string;
  receivedAt: Date;
  text: string;
}

export interface EscalatedCaseFacts extends CaseFacts {
  /** How the escalation named it: our threading headers (or reply token), the case tag, or a case number the sender may name. */
  via: 'headers' | 'tag' | 'number';
  escalatedAt: Date | null;
  /** Escalations recorded before this one. */
  previousEscalations: number;
  requester: { name: string; address: string } | null;
  lastCustomer: CaseMessageFacts | null;
  lastEngineer: CaseMessageFacts | null;
}

export interface EscalationFacts {
  case: EscalatedCaseFacts | null;
  /** Numbers the message named that matched no case the sender may name. */
  unmatchedNumbers: number[];
  /** Active supervisors (engineers with role supervisor). */
  supervisors: string[];
  /** Who hears of an unassigned case: the queue address, else every active engineer. */
  unassigned: string[];
}

/**
 * Which case an escalation is about: the threading headers (or reply token) first, then a case
 * tag, then a loose case number — which counts only when it is a case of the sender's organisation,
 * a case the sender takes part in, or any case when an engineer writes. A stranger naming a bare
 * number learns nothing from the answer (it is treated as unmatched).
 */
export async function gatherEscalationFacts(trx: Trx, facts: IntakeFacts): Promise<EscalationFacts> {
  const { settings, understanding: u, sender } = facts;
  const refs = escalationRefs(u.parsed.subject, u.reply.visibleText, [settings.caseNumber.prefix]);
  let found: { caseId: number; via: EscalatedCaseFacts['via'] } | null = null;
  const r = facts.referenced;
  if (r && (r.via === 'headers' || r.via === 'token')) found = { caseId: r.id, via: 'headers' };
  const numbers = [...new Set([...refs.tagged, ...refs.mentioned])];
  const rows = numbers.length
    ? await trx.selectFrom('cases').select(['id', 'number', 'organisation_id']).where('number', 'in', numbers).execute()
    : [];
  const byNumber = new Map(rows.map((x) => [Number(x.number), x]));
  if (!found) {
    const tagged = refs.tagged.map((n) => byNumber.get(n)).find((x) => x !== undefined);
    if (tagged) found = { caseId: Number(tagged.id), via: 'tag' };
  }
  const from = facts.fromAddress;
  const participantOf = from && rows.length
    ? new Set((await trx.selectFrom('case_participants').select('case_id').where('address', '=', from)
      .where('case_id', 'in', rows.map((x) => x.id)).execute()).map((x) => Number(x.case_id)))
    : new Set<number>();
  const mayName = (x: { id: number; organisation_id: number }) => sender.kind === 'engineer'
    || participantOf.has(Number(x.id)) || (sender.kind === 'contact' && sender.organisationId === Number(x.organisation_id));
  if (!found) {
    const named = refs.mentioned.map((n) => byNumber.get(n)).find((x) => x !== undefined && mayName(x));
    if (named) found = { caseId: Number(named.id), via: 'number' };
  }
  const [c, supervisors, unassigned] = await Promise.all([
    found ? loadEscalatedCase(trx, await followMerges(trx, found.caseId), found.via) : Promise.resolve(null),
    activeSupervisors(trx),
    unassignedRecipients(trx, settings),
  ]);
  const unmatchedNumbers = c ? [] : refs.mentioned;
  return { case: c, unmatchedNumbers, supervisors, unassigned };
}

/** The case a merged case's messages now go to (a chain of merges followed up to MERGE_HOPS), else the case itself. */
async function followMerges(trx: Trx, caseId: number): Promise<number> {
  let id = caseId;
  for (let hop = 0; hop < MERGE_HOPS; hop++) {
    const into = await trx.selectFrom('case_links').select('linked_case_id').where('case_id', '=', id).where('kind', '=', 'merged_into').executeTakeFirst();
    if (!into) break;
    id = Number(into.linked_case_id);
  }
  return id;
}

async function loadEscalatedCase(trx: Trx, caseId: number, via: EscalatedCaseFacts['via']): Promise<EscalatedCaseFacts | null> {
  const c = await loadCase(trx, caseId);
  if (!c) return null;
  // Earlier escalations are stored on the case too; they are not what the customer or engineer last said.
  const lastBy = (roles: string[]) => trx.selectFrom('messages').select(['from_address', 'received_at', 'visible_text'])
    .where('case_id', '=', caseId).where('direction', '=', 'inbound').where('status', '=', 'processed')
    .where('sender_role', 'in', roles).where(sql<boolean>`coalesce(status_reason, '') not like 'escalation%'`)
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  const [row, count, requester, customer, engineer] = await Promise.all([
    trx.selectFrom('cases').select('escalated_at').where('id', '=', caseId).executeTakeFirstOrThrow(),
    trx.selectFrom('case_events').select(sql<number>`count(*)::int`.as('n')).where('case_id', '=', caseId).where('kind', '=', 'escalated').executeTakeFirstOrThrow(),
    trx.selectFrom('cases').innerJoin('contacts', 'contacts.id', 'cases.requester_contact_id')
      .select(['contacts.name', 'contacts.address']).where('cases.id', '=', caseId).executeTakeFirst(),
    lastBy(['customer', 'org_admin']),
    lastBy(['engineer', 'supervisor']),
  ]);
  const message = (m: typeof customer): CaseMessageFacts | null => (m
    ? { from: m.from_address ?? '(no sender)', receivedAt: m.received_at, text: m.visible_text ?? '' }
    : null);
  return {
    ...c, via, escalatedAt: row.escalated_at, previousEscalations: count.n,
    requester: requester ? { name: requester.name, address: requester.address } : null,
    lastCustomer: message(customer), lastEngineer: message(engineer),
  };
}

// ---------------------------------------------------------------- organisation admins (spec section 8)

export interface DigestCaseFacts {
  number: number;
  subject: string;
  severity: 1 | 2 | 3;
  state: CaseState;
  requester: { name: string; address: string };
  openedAt: Date;
  firstResponseAt: Date | null;
  firstResponseDueAt: Date;
  autoCloseAt: Date | null;
}

export interface KnownAddress {
  /** A contact's organisation, or 'engineer'. */
  kind: 'contact' | 'engineer';
  organisationId: number | null;
}

export interface AdminCommandFacts {
  /** The organisation's open cases, oldest first, at most `limit`; `total` counts them all. */
  openCases: DigestCaseFacts[];
  openTotal: number;
  contracts: { product: string; startsOn: string; endsOn: string }[];
  /** `add contact`: the body's lines, and who each address already is. */
  lines: ContactLine[];
  omittedLines: number;
  known: Map<string, KnownAddress>;
}

/** What one admin command needs: only the part its command reads is looked up. */
export async function gatherAdminCommandFacts(trx: Trx, facts: IntakeFacts, command: AdminCommand, organisationId: number, limit: number): Promise<AdminCommandFacts> {
  const out: AdminCommandFacts = { openCases: [], openTotal: 0, contracts: [], lines: [], omittedLines: 0, known: new Map() };
  if (command === 'cases') {
    const base = trx.selectFrom('cases as c').where('c.organisation_id', '=', organisationId).where('c.state', '<>', 'closed');
    const [rows, count] = await Promise.all([
      base.leftJoin('contacts as k', 'k.id', 'c.requester_contact_id')
        .select(['c.number', 'c.subject', 'c.severity', 'c.state', 'c.opened_at', 'c.first_response_at', 'c.first_response_due_at', 'c.auto_close_at', 'k.name', 'k.address'])
        .orderBy('c.opened_at').orderBy('c.number').limit(limit).execute(),
      base.select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow(),
    ]);
    out.openTotal = count.n;
    out.openCases = rows.map((r) => ({
      number: Number(r.number), subject: r.subject, severity: r.severity as 1 | 2 | 3, state: r.state,
      requester: { name: r.name ?? '', address: r.address ?? '' }, openedAt: r.opened_at, firstResponseAt: r.first_response_at,
      firstResponseDueAt: r.first_response_due_at, autoCloseAt: r.auto_close_at,
    }));
  } else if (command === 'licenses') {
    const rows = await trx.selectFrom('contracts').select(['product', 'starts_on', 'ends_on'])
      .where('organisation_id', '=', organisationId).orderBy('ends_on', 'desc').orderBy('product').execute();
    out.contracts = rows.map((r) => ({ product: r.product, startsOn: dateText(r.starts_on), endsOn: dateText(r.ends_on) }));
  } else {
    const parsed = contactLines(facts.understanding.reply.visibleText);
    out.lines = parsed.lines;
    out.omittedLines = parsed.omitted;
    const addresses = [...new Set(parsed.lines.flatMap((l) => (l.address ? [l.address] : [])))];
    if (addresses.length) {
      const [contacts, engineers] = await Promise.all([
        trx.selectFrom('contacts').select(['address', 'organisation_id']).where('address', 'in', addresses).execute(),
        trx.selectFrom('engineers').select('address').where('address', 'in', addresses).execute(),
      ]);
      for (const c of contacts) out.known.set(c.address, { kind: 'contact', organisationId: Number(c.organisation_id) });
      for (const e of engineers) out.known.set(e.address, { kind: 'engineer', organisationId: null });
    }
  }
  return out;
}

/** Both drivers return `date` columns as 'YYYY-MM-DD' (db/database.ts); a Date is read as such. */
function dateText(v: unknown): string {
  return v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10);
}
