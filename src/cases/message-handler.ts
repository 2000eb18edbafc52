// The one handler behind every intake (IMAP, SMTP, pipe): store the raw message once, parse,
// classify, and write the outcome in ONE transaction — message row, new cases or follow-up,
// participants, audit events and outbox rows (or, for an IMAP batch, several messages in one
// transaction: handleGroup, with one instant for the group). Nothing is dropped: every message ends up in a
// case, held with a reason, ignored as automatic/loop mail, or quarantined with its error; an
// empty message has nothing to keep and is refused (EmptyMessageError, code empty_message).
import { ownAddresses, type CasemailSettings } from '../config/config.js';
import { isTemporaryDatabaseError, type Db, type Trx } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { contentHash, headerBlock } from '../ingest/content-hash.js';
import { parseMessage } from '../ingest/parse-message.js';
import { EmptyMessageError, TemporaryIntakeError, type IntakeHandler, type IntakeResult, type IntakeSource } from '../ingest/intake-types.js';
import { classifyAutomatic } from '../threading/automatic.js';
import { routeMessage, type SenderFacts } from '../threading/route-message.js';
import { doubtfulOriginator } from '../threading/originator.js';
import { adminCommandOf } from '../threading/admin-commands.js';
import { refersToOurMailOnCase } from '../threading/bounce-trust.js';
import { pgSafeDeep, pgSafeText } from '../threading/pg-text.js';
import { isEmptyInput } from '../threading/empty-input.js';
import { understandParsed, understandingOptions, type Understanding } from '../threading/understanding.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import type { Sender } from '../directory/directory-store.js';
import { enqueueMail, type EnqueueContext } from '../notify/outbox-store.js';
import type { OutgoingMail } from '../notify/mail-kinds.js';
import { oversizeNotice } from '../notify/compose.js';
import { findInboundDuplicate, insertMessageWithRaw, storeBytesFirst, type BytesHashes } from './message-store.js';
import { gatherFacts, lockSendersAndRead, mayOpenCase, prefetchNewRequests, type IntakeFacts } from './intake-facts.js';
import { originalMessageIds } from '../threading/message-facts.js';
import type { GroupNewRequests } from './group-new-requests.js';
import { decide } from './decide.js';
import { PlanWrites, queueMails, writePlanButMail, type InboundRow } from './apply-plan.js';
import type { Plan } from './plan.js';

export interface MessageHandlerDeps {
  db: Db;
  settings: CasemailSettings;
  logger: Logger;
  /** Read once per message; tests pass fixed instants. */
  clock: () => Date;
  /** Called after a commit that queued outgoing mail, so the dispatcher can send at once. */
  onOutboxWritten?: () => void;
  /** REPLY_TOKEN_SECRET: bounces to a VERP return path signed with it name the outbox row they are about. */
  replyTokenSecret?: string | null;
  /** Understands the raw bytes; the service passes the worker pool (understand-pool.ts). Default: in-process. */
  understand?: (raw: Buffer) => Promise<Understanding>;
  /** Parses only (the understanding then runs here); for tests that watch or slow the parser. */
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
}

/** One message decided and written, its mail still to queue. */
interface Decided {
  result: IntakeResult;
  mails: OutgoingMail[];
  /** The plan added contacts or changed a bounce mark: senders read before it may be stale. */
  changesContacts: boolean;
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '23505' || /duplicate key value violates unique constraint/i.test((err as Error)?.message ?? '');
}

export class MessageHandler implements IntakeHandler {
  /** The worker pool the service passes, else parsing and understanding in-process. */
  private readonly understand: (raw: Buffer) => Promise<Understanding>;
  private readonly parse: (raw: Buffer) => Promise<ParsedMessage>;

  constructor(private readonly deps: MessageHandlerDeps) {
    this.parse = deps.parse ?? parseMessage;
    const options = understandingOptions(deps.settings);
    this.understand = deps.understand ?? (async (raw) => understandParsed(await this.parse(raw), options));
  }

  /**
   * Understanding started early (prepare) or already done for a Buffer: a message waiting for its
   * commit is understood meanwhile, and one a failed group leaves to be handled alone is not
   * understood twice. Weak: an entry lives as long as the intake holds the message's bytes. Only
   * successes stay; a failure is asked again on the next try.
   */
  private readonly understood = new WeakMap<Buffer, Promise<Understanding>>();

  prepare(raw: Buffer): void {
    if (isEmptyInput(raw) || raw.length > this.deps.settings.limits.maxMessageBytes) return;
    void this.understandOnce(raw);
  }

  /** The message understood and made acceptable to PostgreSQL (everything written derives from it), once per Buffer. */
  private understandOnce(raw: Buffer): Promise<Understanding> {
    let p = this.understood.get(raw);
    if (!p) {
      const started = this.understand(raw).then((u) => pgSafeDeep(u));
      p = started;
      this.understood.set(raw, started);
      started.catch(() => {
        if (this.understood.get(raw) === started) this.understood.delete(raw);
      });
    }
    return p;
  }

  /** Held-message release re-addresses a held escalation to it (held-release.ts). */
  get escalationAddress(): string {
    return this.deps.settings.addresses.escalation;
  }

  async handle(raw: Buffer, source: IntakeSource): Promise<IntakeResult> {
    try {
      return await this.handleAt(raw, source, this.deps.clock());
    } catch (err) {
      if (err instanceof TemporaryIntakeError) throw err;
      if (isTemporaryDatabaseError(err)) throw new TemporaryIntakeError(`database unavailable: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  async quarantine(raw: Buffer, source: IntakeSource, error: unknown): Promise<IntakeResult> {
    if (isEmptyInput(raw)) {
      // Nothing to keep. SMTP and the pipe refuse it (the error); a mailbox cannot refuse what it
      // already holds, so IMAP files it in its quarantine folder (nothing stored here) rather
      // than retrying it forever in front of the messages behind it.
      if (source.kind !== 'imap') throw new EmptyMessageError();
      this.deps.logger.warn({ mailbox: source.mailbox, uid: source.uid }, 'empty message left to the quarantine folder, not stored');
      return { status: 'quarantined', messageId: '', caseNumbers: [], reason: new EmptyMessageError().message };
    }
    try {
      return await this.quarantineAt(raw, source, `handling failed repeatedly: ${errorText(error)}`, this.deps.clock());
    } catch (err) {
      if (isTemporaryDatabaseError(err)) throw new TemporaryIntakeError(`database unavailable: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  /**
   * Handles one message as of `now`. `releasing`: the id of a held message this is a new run of
   * (`casemail held release`); its row is marked released in the same transaction.
   */
  async handleAt(raw: Buffer, source: IntakeSource, now: Date, opts: { releasing?: number } = {}): Promise<IntakeResult> {
    const { settings } = this.deps;
    if (isEmptyInput(raw)) throw new EmptyMessageError();
    if (raw.length > settings.limits.maxMessageBytes) return this.quarantineOversize(raw, source, now);

    let u: Understanding;
    try {
      u = await this.understandOnce(raw);
    } catch (err) {
      if (err instanceof TemporaryIntakeError) throw err;
      return this.quarantineAt(raw, source, `unparseable: ${errorText(err)}`, now);
    }
    const parsed = u.parsed;
    const hash = contentHash(raw);
    // No look-up first: the unique keys on messages (Message-ID + content hash; mailbox, UIDVALIDITY,
    // UID) refuse a second copy inside the transaction, which then rolls back. Duplicates are rare
    // and this saves a round trip on every other message.
    try {
      const result = await this.deps.db.transaction().execute(async (trx) => {
        const [bytesWritten] = await storeBytesFirst(trx, [{ raw, attachments: u.parsed.attachments }]);
        const d = await this.decideAndWrite(trx, raw, hash, u, source, now, opts.releasing ?? null, bytesWritten ? { bytesWritten } : {});
        return { result: d.result, queuedMail: (await queueMails(trx, d.mails, this.enqueueContext(now))).queuedMail };
      });
      if (result.queuedMail) this.deps.onOutboxWritten?.();
      this.deps.logger.info({ msg_id: parsed.messageId, status: result.result.status, cases: result.result.caseNumbers, reason: result.result.reason }, 'message handled');
      return result.result;
    } catch (err) {
      if (isUniqueViolation(err)) {
        // Already stored: delivered twice, replayed after a crash, or IMAP and SMTP racing.
        const again = await findInboundDuplicate(this.deps.db, {
          messageIdHeader: parsed.messageId, contentHash: hash, mailbox: source.mailbox, uidValidity: source.uidValidity, uid: source.uid,
        });
        if (again) return this.duplicateResult(again.id, again.caseId);
      }
      if (isTemporaryDatabaseError(err)) throw err;
      if ((err as { code?: string } | null)?.code === 'not_held') throw err;
      // A bug in handling this particular message must not block the ones behind it.
      this.deps.logger.error({ err, msg_id: parsed.messageId }, 'handling failed; quarantining the message');
      return this.quarantineAt(raw, source, `handling failed: ${errorText(err)}`, now);
    }
  }

  private async duplicateResult(id: number, caseId: number | null): Promise<IntakeResult> {
    let caseNumbers: number[] = [];
    if (caseId !== null) {
      const c = await this.deps.db.selectFrom('cases').select('number').where('id', '=', caseId).executeTakeFirst();
      caseNumbers = c ? [c.number] : [];
    }
    return { status: 'duplicate', messageId: String(id), caseNumbers, reason: 'already stored' };
  }

  /** One message's facts, decision and writes but its mail, which the caller queues before commit (queueMails). */
  private async decideAndWrite(
    trx: Trx, raw: Buffer, hash: string, u: Understanding, source: IntakeSource, now: Date, releasing: number | null,
    known: {
      messageRowId?: number; senders?: ReadonlyMap<string, Sender>; lockedSenders?: ReadonlySet<string>; newRequests?: GroupNewRequests; writes?: PlanWrites;
      bytesWritten?: BytesHashes;
    } = {},
  ): Promise<Decided> {
    const { settings } = this.deps;
    const { writes, bytesWritten, ...read } = known;
    // A group's writes wait in `writes` while nothing read next depends on them. The facts are read
    // first; should they name a case or a message those writes touch, the writes go first and the
    // facts are read again (a reply to a message earlier in the group, two replies to one case).
    const gather = () => gatherFacts(trx, { understanding: u, source, now, settings, replyTokenSecret: this.deps.replyTokenSecret ?? null, ...read });
    let facts = await gather();
    if (writes?.touchesAny(factsRefer(facts))) {
      await writes.flush(trx);
      facts = await gather();
    }
    const route = routeMessage({
      auto: u.classify, recipients: facts.recipients, escalationAddress: settings.addresses.escalation,
      escalationAliases: settings.addresses.escalationAliases, sender: senderFacts(facts.sender),
      referenced: facts.referenced && {
        caseId: facts.referenced.id, number: facts.referenced.number, organisationId: facts.referenced.organisationId,
        state: facts.referenced.state, closedAt: facts.referenced.closedAt, via: facts.referenced.via,
        senderIsParticipant: facts.fromAddress !== null && facts.referenced.participants.some((p) => p.address === facts.fromAddress),
      },
      reopenWindowDays: settings.timers.reopenWindowDays, now,
      doubtfulSender: doubtfulOriginator(u.parsed),
      refersToOurMail: facts.referenced !== null && refersToOurMailOnCase(facts.referenced.id, facts.ourMail),
      subjectNamesCase: u.caseRef?.source === 'subject',
      adminCommand: adminCommandOf(u.parsed.subject),
    });
    // Deciding a new request the group read facts for, a follow-up, a hold or a loop reads nothing the
    // waiting writes change (CC'd contacts, who hears of unassigned cases); other routes read cases.
    const readsNothingWaiting = route.kind === 'hold' || route.kind === 'ignore-loop' || route.kind === 'follow-up'
      || (route.kind === 'new-request' && facts.fromAddress !== null && facts.newRequests?.covers(facts.fromAddress) === true);
    if (writes && !readsNothingWaiting) {
      await writes.flush(trx);
    }
    const plan = await decide(trx, route, facts);
    if (releasing !== null) await markReleased(trx, releasing, facts.messageRowId, hash, plan, now);
    const p = u.parsed;
    const inbound: InboundRow = {
      id: facts.messageRowId, raw, attachments: p.attachments, ...(bytesWritten ? { bytesWritten } : {}),
      row: {
        direction: 'inbound', content_hash: hash, message_id_header: p.messageId, in_reply_to: p.inReplyTo, references: JSON.stringify(p.references),
        from_address: facts.fromAddress, subject: p.subject, sent_at: p.date, received_at: now, source: source.kind, mailbox: source.mailbox,
        uid_validity: source.uidValidity, uid: source.uid, kind: u.classify.kind, classification: JSON.stringify(u.classify),
        sender_role: senderRole(facts.sender), visible_text: u.reply.visibleText,
      },
    };
    if (!writes?.add(trx, plan, inbound, now)) {
      await writes?.flush(trx);
      await writePlanButMail(trx, plan, inbound, now);
    }
    const result: IntakeResult = { status: plan.message.status, messageId: String(facts.messageRowId), caseNumbers: plan.caseNumbers, reason: plan.message.reason };
    return { result, mails: plan.mails, changesContacts: plan.addContacts !== undefined || plan.markBouncing !== null || plan.clearBouncing !== null };
  }

  private enqueueContext(now: Date): EnqueueContext {
    const { settings } = this.deps;
    return { now, messageIdDomain: settings.messageIdDomain, maxAutomaticPerAddressPerHour: settings.limits.maxAutomaticMailPerAddressPerHour, maxAutomaticPerEngineerPerHour: settings.limits.maxAutomaticMailPerEngineerPerHour, logger: this.deps.logger };
  }

  /**
   * Several messages committed in ONE transaction (group commit): each is decided and written in
   * turn, so each sees what the ones before it wrote (sender caps, threading), and all their mail is
   * queued together at the end. Returns a result per message committed that way, and null for a
   * message the caller must hand to `handle` alone: one that is empty, oversize or cannot be
   * understood (handled alone, it is refused or quarantined), and every message of a group whose
   * transaction failed (a duplicate, a deadlock, a bug in one message): nothing of it was kept, and
   * alone each gets its own outcome, so one bad message never blocks or loses the others.
   */
  async handleGroup(items: readonly { raw: Buffer; source: IntakeSource }[]): Promise<(IntakeResult | null)[]> {
    const { settings } = this.deps;
    const now = this.deps.clock();
    const understood = await Promise.all(items.map(async ({ raw }) => {
      if (isEmptyInput(raw) || raw.length > settings.limits.maxMessageBytes) return null;
      try {
        return await this.understandOnce(raw);
      } catch {
        return null;
      }
    }));
    const together = items.flatMap((item, i) => (understood[i] ? [{ ...item, u: understood[i], hash: contentHash(item.raw), index: i }] : []));
    const results: (IntakeResult | null)[] = items.map(() => null);
    if (together.length === 0) return results;
    let queuedMail = false;
    try {
      const decided = await this.deps.db.transaction().execute(async (trx) => {
        const out: Decided[] = [];
        const bytesWritten = await storeBytesFirst(trx, together.map((m) => ({ raw: m.raw, attachments: m.u.parsed.attachments })));
        const fromOf = (m: (typeof together)[number]) => (m.u.parsed.from?.address ? [m.u.parsed.from.address] : []);
        const read = await lockSendersAndRead(trx, together.flatMap(fromOf), together.filter((m) => mayOpenCase(m.u)).flatMap(fromOf), now, together.length);
        const ids = read.messageIds;
        let senders: ReadonlyMap<string, Sender> | undefined = read.senders;
        // The new-request facts of the senders whose locks the group holds (entitled contacts), read once.
        const openers = together.filter((m) => mayOpenCase(m.u) && mayRequest(read.senders.get(m.u.parsed.from?.address?.toLowerCase() ?? '')));
        const newRequests = openers.length
          ? await prefetchNewRequests(trx, openers.map((m) => m.u.parsed.from!.address!), openers.length, now, settings)
          : undefined;
        const writes = new PlanWrites();
        for (const [k, m] of together.entries()) {
          const d = await this.decideAndWrite(trx, m.raw, m.hash, m.u, m.source, now, null, {
            messageRowId: ids[k]!, lockedSenders: read.locked, writes, ...(senders ? { senders } : {}), ...(newRequests ? { newRequests } : {}),
            ...(bytesWritten[k] ? { bytesWritten: bytesWritten[k] } : {}),
          });
          // A message that changed contacts (an admin adding one, a bounce mark) leaves the later ones to read their sender anew.
          if (d.changesContacts) senders = undefined;
          out.push(d);
        }
        await writes.flush(trx);
        queuedMail = (await queueMails(trx, out.flatMap((d) => d.mails), this.enqueueContext(now))).queuedMail;
        return out;
      });
      decided.forEach((d, k) => {
        const m = together[k]!;
        results[m.index] = d.result;
        this.deps.logger.info({ msg_id: m.u.parsed.messageId, status: d.result.status, cases: d.result.caseNumbers, reason: d.result.reason }, 'message handled');
      });
    } catch (err) {
      // Nothing of the group was kept; each message is handled alone by the caller.
      this.deps.logger.debug({ err, messages: together.length }, 'group transaction failed; handling its messages one by one');
      return items.map(() => null);
    }
    if (queuedMail) this.deps.onOutboxWritten?.();
    return results;
  }

  private async quarantineOversize(raw: Buffer, source: IntakeSource, now: Date): Promise<IntakeResult> {
    const { settings } = this.deps;
    // Keep the headers (the body is over the limit); tell the sender once a day.
    const headers = headerBlock(raw);
    let parsed: ParsedMessage | null = null;
    try {
      parsed = await this.parse(Buffer.concat([headers, Buffer.from('\r\n\r\n')]));
    } catch {
      parsed = null;
    }
    parsed = parsed && pgSafeDeep(parsed);
    const hash = contentHash(raw);
    const dup = await findInboundDuplicate(this.deps.db, { messageIdHeader: parsed?.messageId ?? null, contentHash: hash, mailbox: source.mailbox, uidValidity: source.uidValidity, uid: source.uid });
    if (dup) return this.duplicateResult(dup.id, dup.caseId);
    const reason = `oversize: ${raw.length} bytes exceeds the limit of ${settings.limits.maxMessageBytes}`;
    let queued = false;
    const id = await this.deps.db.transaction().execute(async (trx) => {
      const id = await insertMessageWithRaw(trx, headers, {
        direction: 'inbound', content_hash: hash, message_id_header: parsed?.messageId ?? null,
        in_reply_to: parsed?.inReplyTo ?? null, references: JSON.stringify(parsed?.references ?? []),
        from_address: parsed?.from?.address ?? null, subject: parsed?.subject ?? null, received_at: now, source: source.kind,
        mailbox: source.mailbox, uid_validity: source.uidValidity, uid: source.uid, status: 'quarantined', status_reason: 'oversize', error: reason,
      });
      const from = parsed?.from?.address?.toLowerCase();
      const auto = parsed ? classifyAutomatic(parsed, { ourMessageIdDomains: [settings.messageIdDomain], loopHeader: settings.loopHeader }) : null;
      if (from && auto && !auto.automated && !ownAddresses(settings).includes(from)) {
        const r = await enqueueMail(trx, oversizeNotice({
          now, to: from, answering: { messageId: parsed?.messageId ?? null, references: [] },
          data: { subject: parsed?.subject ?? '', sizeBytes: raw.length, limitBytes: settings.limits.maxMessageBytes, supportAddress: settings.addresses.support },
        }), this.enqueueContext(now));
        queued = r.inserted;
      }
      return id;
    });
    if (queued) this.deps.onOutboxWritten?.();
    this.deps.logger.warn({ messageRowId: id, size: raw.length }, 'oversize message quarantined');
    return { status: 'quarantined', messageId: String(id), caseNumbers: [], reason };
  }

  private async quarantineAt(raw: Buffer, source: IntakeSource, reason: string, now: Date): Promise<IntakeResult> {
    // Message-ID left null and the hash marked on purpose: a quarantined copy must not block a
    // later good copy's dedup, while a second bad copy is recognised as the same one.
    const quarantineHash = `quarantine:${contentHash(raw)}`;
    const dup = await findInboundDuplicate(this.deps.db, { messageIdHeader: null, contentHash: quarantineHash, mailbox: source.mailbox, uidValidity: source.uidValidity, uid: source.uid });
    if (dup?.status === 'quarantined') return { status: 'quarantined', messageId: String(dup.id), caseNumbers: [], reason: 'already quarantined' };
    if (dup) return this.duplicateResult(dup.id, dup.caseId);
    const id = await insertMessageWithRaw(this.deps.db, raw, {
      direction: 'inbound', content_hash: quarantineHash, received_at: now, source: source.kind,
      mailbox: source.mailbox, uid_validity: source.uidValidity, uid: source.uid, status: 'quarantined', status_reason: 'error', error: pgSafeText(reason.slice(0, 4000)),
    });
    this.deps.logger.warn({ messageRowId: id, reason }, 'message quarantined');
    return { status: 'quarantined', messageId: String(id), caseNumbers: [], reason };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.message}` : String(err);
}

function senderFacts(s: Sender): SenderFacts {
  if (s.kind === 'engineer') return { kind: 'engineer', active: s.active };
  if (s.kind === 'contact') return { kind: 'contact', organisationId: s.organisationId, admin: s.admin, active: s.active, entitled: s.entitled };
  return { kind: 'unknown' };
}

/** The cases and Message-IDs a message's facts were read by: what waiting writes must not have touched. */
function factsRefer(facts: IntakeFacts): { caseIds: number[]; messageIds: string[] } {
  const p = facts.understanding.parsed;
  const r = facts.referenced;
  return {
    caseIds: [...(r ? [r.id, ...(r.mergedFrom !== null ? [r.mergedFrom] : [])] : []), ...facts.ourMail.flatMap((m) => (m.caseId === null ? [] : [m.caseId]))],
    messageIds: [...(p.inReplyTo ? [p.inReplyTo] : []), ...p.references, ...(facts.understanding.classify.automated ? originalMessageIds(p) : [])],
  };
}

/** An entitled, active contact: whose message that names no case is most likely a new request. */
function mayRequest(s: Sender | undefined): boolean {
  return s?.kind === 'contact' && s.active && s.entitled;
}

function senderRole(s: Sender): string {
  if (s.kind === 'engineer') return s.supervisor ? 'supervisor' : 'engineer';
  if (s.kind === 'contact') return s.admin ? 'org_admin' : 'customer';
  return 'unknown';
}

/**
 * The held message a release re-runs: marked released, its keys freed (the new row holds them),
 * and the release recorded on the case it was held on.
 */
async function markReleased(trx: Trx, heldId: number, newId: number, hash: string, plan: Plan, now: Date): Promise<void> {
  // A quarantined message is retried the same way (`casemail quarantine retry`); the caller checked which it is.
  const before = await trx.selectFrom('messages').select('status').where('id', '=', heldId).forUpdate().executeTakeFirst();
  const wasQuarantined = before?.status === 'quarantined';
  const held = await trx.updateTable('messages')
    .set({ status: 'released', status_reason: `released as message ${newId}`, message_id_header: null, content_hash: `released:${heldId}:${hash}`, uid: null })
    .where('id', '=', heldId).where('status', 'in', ['held', 'quarantined']).returning(['case_id']).executeTakeFirst();
  if (!held) throw Object.assign(new Error(`message ${heldId} is not held`), { code: 'not_held' });
  plan.events.push({
    caseId: held.case_id ?? plan.message.caseId, actor: 'operator', kind: wasQuarantined ? 'quarantined_message_retried' : 'held_message_released', aboutMessage: false, messageId: heldId,
    data: { heldMessage: heldId, newMessage: newId, outcome: plan.message.status, reason: plan.message.reason, cases: plan.caseNumbers, at: now.toISOString() },
  });
}
