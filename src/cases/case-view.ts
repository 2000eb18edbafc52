// The operator JSON contract (`casemail case show N --json`, `case list --json`): one stable,
// documented shape (docs/operator-json.md) that scripts, monitoring and tests read. Reads only:
// cases, participants, links, events, inbound messages and outbox rows, through the `db` given.
// Mail text stays as strings; the command escapes it for the terminal when printing. The human
// form of `case show` (formatCaseTimeline) is pure text from that view.
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { formatLocal } from '../calendar/business-calendar.js';
import { formatDuration } from '../calendar/time-words.js';
import type { DbOrTrx } from '../db/database.js';
import { decodeRawHeader, parseAddressList, splitHeaderBlock } from '../ingest/parse-header.js';

export interface PersonView {
  address: string;
  name: string;
}

export interface EventItem {
  type: 'event';
  at: string;
  actor: string;
  kind: string;
  data: Record<string, unknown>;
}

export interface DeliveryView {
  status: 'pending' | 'sent' | 'failed' | 'held_back';
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
}

export interface MessageItem {
  type: 'message';
  at: string;
  direction: 'inbound' | 'outbound';
  from: string | null;
  to: string[];
  subject: string | null;
  messageId: string | null;
  kind: string | null;
  status: string;
  statusReason: string | null;
  delivery: DeliveryView | null;
}

export type TimelineItem = EventItem | MessageItem;

export interface CaseView {
  number: number;
  subject: string;
  state: string;
  severity: number;
  severitySource: string;
  organisation: { key: string; name: string };
  requester: PersonView | null;
  assignee: PersonView | null;
  participants: { address: string; role: string }[];
  deadlines: {
    firstResponseDueAt: string;
    firstResponseAt: string | null;
    slaWarningDueAt: string | null;
    /** When the sweep acted on the warning / breach instant (null: not yet). */
    slaWarnedAt: string | null;
    slaBreachedAt: string | null;
    nextReminderAt: string | null;
    autoCloseAt: string | null;
    autoCloseReason: string | null;
  };
  openedAt: string;
  closedAt: string | null;
  closeReason: string | null;
  escalatedAt: string | null;
  links: { kind: string; case: number }[];
  timeline: TimelineItem[];
}

export interface CaseListItem {
  number: number;
  subject: string;
  state: string;
  severity: number;
  organisation: { key: string; name: string };
  assignee: PersonView | null;
  openedAt: string;
  firstResponseDueAt: string;
  firstResponseAt: string | null;
  autoCloseAt: string | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Only the header block is needed for To/Cc: never fetch a whole (possibly many-MB) message. */
const HEADER_BYTES = 64 * 1024;

export async function caseListView(db: DbOrTrx, filter: { state: string | null; limit?: number }): Promise<CaseListItem[]> {
  let q = db.selectFrom('cases').innerJoin('organisations', 'organisations.id', 'cases.organisation_id')
    .leftJoin('engineers', 'engineers.id', 'cases.assignee_engineer_id')
    .select([
      'cases.number', 'cases.subject', 'cases.state', 'cases.severity', 'organisations.key as orgKey', 'organisations.name as orgName',
      'engineers.address as assigneeAddress', 'engineers.name as assigneeName', 'cases.opened_at', 'cases.first_response_due_at',
      'cases.first_response_at', 'cases.auto_close_at',
    ])
    .orderBy('cases.number', 'desc').limit(filter.limit ?? 500);
  if (filter.state) q = q.where('cases.state', '=', filter.state as never);
  const rows = await q.execute();
  return rows.map((r) => ({
    number: r.number, subject: r.subject, state: r.state, severity: r.severity,
    organisation: { key: r.orgKey, name: r.orgName },
    assignee: r.assigneeAddress !== null ? { address: r.assigneeAddress, name: r.assigneeName ?? '' } : null,
    openedAt: r.opened_at.toISOString(), firstResponseDueAt: r.first_response_due_at.toISOString(),
    firstResponseAt: iso(r.first_response_at), autoCloseAt: iso(r.auto_close_at),
  }));
}

/**
 * One case as the operator JSON, or null when there is no such case. `supportAddress` is the
 * From of everything the outbox sends (outbox rows do not store it).
 */
export async function caseView(db: DbOrTrx, number: number, opts: { supportAddress: string }): Promise<CaseView | null> {
  const c = await db.selectFrom('cases').innerJoin('organisations', 'organisations.id', 'cases.organisation_id')
    .leftJoin('engineers', 'engineers.id', 'cases.assignee_engineer_id')
    .leftJoin('contacts', 'contacts.id', 'cases.requester_contact_id')
    .selectAll('cases')
    .select([
      'organisations.key as orgKey', 'organisations.name as orgName', 'engineers.address as assigneeAddress', 'engineers.name as assigneeName',
      'contacts.address as requesterAddress', 'contacts.name as requesterName',
    ])
    .where('cases.number', '=', number).executeTakeFirst();
  if (!c) return null;
  const [participants, links, events, inbound, outbox] = await Promise.all([
    db.selectFrom('case_participants').select(['address', 'role']).where('case_id', '=', c.id).orderBy('added_at').orderBy('address').execute(),
    db.selectFrom('case_links').innerJoin('cases as other', 'other.id', 'case_links.linked_case_id')
      .select(['case_links.kind', 'other.number']).where('case_links.case_id', '=', c.id).orderBy('case_links.created_at').orderBy('other.number').execute(),
    db.selectFrom('case_events').select(['id', 'at', 'actor', 'kind', 'data']).where('case_id', '=', c.id).execute(),
    // Outbound rows in `messages` are the outbox's sent copies: the outbox row stands for them.
    db.selectFrom('messages').leftJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
      .select(['messages.id', 'messages.received_at', 'messages.from_address', 'messages.subject', 'messages.message_id_header',
        'messages.kind', 'messages.status', 'messages.status_reason',
        sql<Uint8Array | null>`substring(raw_messages.bytes from 1 for ${HEADER_BYTES})`.as('head')])
      .where('messages.case_id', '=', c.id).where('messages.direction', '=', 'inbound').execute(),
    db.selectFrom('outbox').select(['id', 'created_at', 'to_addresses', 'cc_addresses', 'subject', 'message_id_header', 'kind', 'status', 'attempts', 'last_error', 'sent_at'])
      .where('case_id', '=', c.id).execute(),
  ]);

  const items: { at: Date; rank: number; id: number; item: TimelineItem }[] = [
    ...inbound.map((m) => ({
      at: m.received_at, rank: 0, id: m.id,
      item: {
        type: 'message', at: m.received_at.toISOString(), direction: 'inbound', from: m.from_address, to: recipientsFromHead(m.head),
        subject: m.subject, messageId: m.message_id_header, kind: m.kind, status: m.status, statusReason: m.status_reason, delivery: null,
      } satisfies MessageItem,
    })),
    ...events.map((e) => ({
      at: e.at, rank: 1, id: e.id,
      item: { type: 'event', at: e.at.toISOString(), actor: e.actor, kind: e.kind, data: e.data } satisfies EventItem,
    })),
    ...outbox.map((o) => ({
      at: o.created_at, rank: 2, id: o.id,
      item: {
        type: 'message', at: o.created_at.toISOString(), direction: 'outbound', from: opts.supportAddress, to: [...o.to_addresses, ...o.cc_addresses],
        // Held back by the per-address limit: the reason is the point, so it is the status reason too.
        subject: o.subject, messageId: o.message_id_header, kind: o.kind, status: o.status, statusReason: o.status === 'held_back' ? o.last_error : null,
        delivery: { status: o.status, attempts: o.attempts, lastError: o.last_error, sentAt: iso(o.sent_at) },
      } satisfies MessageItem,
    })),
  ];
  // Time order; at the same instant a message arrives, then what it caused is recorded, then the
  // mail it queued (the intake writes all three with one `now`): inbound, event, outbound, then id.
  items.sort((a, b) => a.at.getTime() - b.at.getTime() || a.rank - b.rank || a.id - b.id);

  return {
    number: c.number, subject: c.subject, state: c.state, severity: c.severity, severitySource: c.severity_source,
    organisation: { key: c.orgKey, name: c.orgName },
    requester: c.requesterAddress !== null ? { address: c.requesterAddress, name: c.requesterName ?? '' } : null,
    assignee: c.assigneeAddress !== null ? { address: c.assigneeAddress, name: c.assigneeName ?? '' } : null,
    participants: participants.map((p) => ({ address: p.address, role: p.role })),
    deadlines: {
      firstResponseDueAt: c.first_response_due_at.toISOString(), firstResponseAt: iso(c.first_response_at),
      slaWarningDueAt: iso(c.sla_warning_due_at), slaWarnedAt: iso(c.sla_warned_at), slaBreachedAt: iso(c.sla_breached_at),
      nextReminderAt: iso(c.next_reminder_at), autoCloseAt: iso(c.auto_close_at), autoCloseReason: c.auto_close_reason,
    },
    openedAt: c.opened_at.toISOString(), closedAt: iso(c.closed_at), closeReason: c.close_reason, escalatedAt: iso(c.escalated_at),
    links: links.map((l) => ({ kind: l.kind, case: l.number })),
    timeline: items.map((i) => i.item),
  };
}

/** To and Cc addresses from the start of a raw message (empty when it has none or was not kept). */
export function recipientsFromHead(head: Uint8Array | null): string[] {
  const { to, cc } = addressHeaders(head);
  return [...to, ...cc];
}

/** To and Cc of a raw message's header block, addresses only (names can be forged; the address is what routed it). */
export function addressHeaders(head: Uint8Array | null): { to: string[]; cc: string[] } {
  if (!head) return { to: [], cc: [] };
  const fields = splitHeaderBlock(headerBlock(Buffer.from(head)));
  const pick = (name: string) => fields.filter((f) => f.name === name)
    .flatMap((f) => parseAddressList(decodeRawHeader(f.raw, null), 1000)).map((a) => a.address).filter((a) => a !== '');
  return { to: pick('to'), cc: pick('cc') };
}

/** The header block as latin1 (one char per byte), up to the first empty line. */
function headerBlock(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  return m ? text.slice(0, m.index) : text;
}

/** One field's value in a terminal line: every control character visible (the CLI passes terminalLine). */
type Escape = (value: string) => string;

const CLOSE_REASONS: Record<string, string> = {
  no_response: 'auto-closed: no answer to a request for information', auto_resolved: 'auto-closed: the proposed resolution was not answered',
  customer_confirmed: 'the customer confirmed the resolution', customer_closed: 'closed by the customer', engineer_closed: 'closed by an engineer',
  merged: 'merged into another case',
};

function shortData(data: Record<string, unknown>, esc: Escape): string {
  if (typeof data.from === 'string' && typeof data.to === 'string') {
    return `${esc(data.from)} -> ${esc(data.to)}${typeof data.reason === 'string' ? ` (${esc(data.reason)})` : ''}`;
  }
  // The reason first: it is what an operator looks for, and long values (ISO instants) follow.
  const parts = Object.entries(data).sort(([a], [b]) => Number(b === 'reason') - Number(a === 'reason')).filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object').map(([k, v]) => `${k}=${String(v)}`);
  const text = parts.join(' ');
  return esc(text.length > 140 ? `${text.slice(0, 139)}…` : text);
}

function delivery(d: DeliveryView, zone: string, esc: Escape): string {
  const tries = `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`;
  const err = d.lastError ? `, last error: ${esc(d.lastError.length > 200 ? `${d.lastError.slice(0, 199)}…` : d.lastError)}` : '';
  switch (d.status) {
    case 'sent': return `sent ${d.sentAt ? shortTime(d.sentAt, zone) : ''}${err}`.trimEnd();
    case 'pending': return `pending (${tries}${err})`;
    case 'failed': return `FAILED after ${tries}${err}`;
    case 'held_back': return `held_back (per-address limit; ${tries}${err})`;
  }
}

/** "Mon 7 Dec 2026 10:00" in the service's zone: one timeline line each, so short. */
function shortTime(iso: string, zone: string): string {
  return DateTime.fromISO(iso, { zone }).toFormat('ccc d LLL yyyy HH:mm');
}

/**
 * `casemail case show N` for a person: the header, the deadlines in words in the service's time
 * zone, then one line per inbound message, event and outgoing mail in time order. `now` only
 * says whether a deadline is ahead or passed. Every value from mail or the directory goes through `esc`.
 */
export function formatCaseTimeline(v: CaseView, opts: { timeZone: string; prefix: string; now: Date; esc: Escape }): string {
  const { timeZone: zone, esc } = opts;
  const words = (iso: string) => formatLocal(new Date(iso), zone);
  const rel = (iso: string) => {
    const ms = new Date(iso).getTime() - opts.now.getTime();
    return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`;
  };
  const person = (p: PersonView | null) => (p ? esc(p.name ? `${p.name} <${p.address}>` : p.address) : '(none)');
  const out: string[] = [];
  const field = (label: string, value: string) => out.push(`${label.padEnd(18)}${value}`);
  out.push(`${esc(opts.prefix)} #${v.number}: ${esc(v.subject)}`);
  field('organisation', `${esc(v.organisation.name)} (${esc(v.organisation.key)})`);
  field('requester', person(v.requester));
  field('assignee', person(v.assignee));
  field('severity', `${v.severity} (${esc(v.severitySource)})`);
  field('state', esc(v.state));
  field('opened', words(v.openedAt));
  if (v.closedAt) field('closed', `${words(v.closedAt)}${v.closeReason ? ` — ${esc(CLOSE_REASONS[v.closeReason] ?? v.closeReason)}` : ''}`);
  if (v.escalatedAt) field('escalated', words(v.escalatedAt));
  if (v.links.length) field('linked', v.links.map((l) => `${esc(l.kind)} #${l.case}`).join(', '));

  out.push('', 'Deadlines');
  const d = v.deadlines;
  field('  first response', d.firstResponseAt
    ? `answered ${words(d.firstResponseAt)} (${new Date(d.firstResponseAt) <= new Date(d.firstResponseDueAt) ? 'within target' : 'after the target'}; due ${words(d.firstResponseDueAt)})`
    : `due ${words(d.firstResponseDueAt)} (${rel(d.firstResponseDueAt)})`);
  field('  SLA warning', d.slaWarnedAt ? `sent ${words(d.slaWarnedAt)}` : d.slaWarningDueAt && !d.firstResponseAt ? `due ${words(d.slaWarningDueAt)}` : '-');
  field('  SLA breach', d.slaBreachedAt ? `breached ${words(d.slaBreachedAt)}` : '-');
  field('  next reminder', d.nextReminderAt ? `${words(d.nextReminderAt)} (${rel(d.nextReminderAt)})` : '-');
  field('  auto-close', d.autoCloseAt ? `${words(d.autoCloseAt)} (${rel(d.autoCloseAt)})${d.autoCloseReason ? `, reason ${esc(d.autoCloseReason)}` : ''}` : '-');

  out.push('', `Timeline (${zone})`);
  if (v.timeline.length === 0) out.push('  (nothing yet)');
  for (const item of v.timeline) {
    const when = shortTime(item.at, zone);
    if (item.type === 'event') {
      out.push(`  ${when}  event     ${esc(item.kind)} by ${esc(item.actor)}${Object.keys(item.data).length ? `: ${shortData(item.data, esc)}` : ''}`);
    } else if (item.direction === 'inbound') {
      out.push(`  ${when}  in        from ${esc(item.from ?? '(no sender)')} "${esc(item.subject ?? '')}" [${esc(item.status)}${item.statusReason ? `: ${esc(item.statusReason)}` : ''}]`);
    } else {
      out.push(`  ${when}  out       ${esc(item.kind ?? 'mail')} to ${esc(item.to.join(', '))}: ${item.delivery ? delivery(item.delivery, zone, esc) : esc(item.status)}`);
    }
  }
  return out.join('\n') + '\n';
}
