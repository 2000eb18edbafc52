// The one handler behind every intake (IMAP, SMTP, pipe): store the raw message once, parse,
// classify, and write the outcome in ONE transaction — message row, new cases or follow-up,
// participants, audit events and outbox rows. Nothing is dropped: every message ends up in a
// case, held with a reason, ignored as automatic/loop mail, or quarantined with its error; an
// empty message has nothing to keep and is refused (EmptyMessageError, code empty_message).
import { ownAddresses, type CasemailSettings } from '../config/config.js';
import type { Db, Trx } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { contentHash, headerBlock } from '../ingest/content-hash.js';
import { parseMessage } from '../ingest/parse-message.js';
import { EmptyMessageError, TemporaryIntakeError, type IntakeHandler, type IntakeResult, type IntakeSource } from '../ingest/intake-types.js';
import { classifyAutomatic, type AutomaticClassification } from '../threading/automatic.js';
import { findCaseRef } from '../threading/case-ref.js';
import { extractReply } from '../threading/reply-text.js';
import { routeMessage, type ReferencedCase, type SenderFacts, type NoticeReason } from '../threading/route-message.js';
import { doubtfulOriginator } from '../threading/originator.js';
import { addressesToMarkBouncing, refersToOurMailOnCase, type OurMail } from '../threading/bounce-trust.js';
import { outboxIdFromReturnPath } from '../threading/return-path-token.js';
import { describeHits, planNewCases, type LimitHit } from '../threading/intake-limits.js';
import { pgSafeDeep, pgSafeText } from '../threading/pg-text.js';
import { isEmptyInput } from '../threading/empty-input.js';
import { suggestSeverity } from '../threading/severity.js';
import { splitIssues } from '../threading/split-issues.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import { isClosePhrase, originalMessageIds, recipientsOf } from '../threading/message-facts.js';
import { findSender, entitledContactsOf, type Sender } from '../directory/directory-store.js';
import { enqueueMail, enqueueMails } from '../notify/outbox-store.js';
import type { CaseSummary, OutgoingMail } from '../notify/mail-kinds.js';
import { caseIdForMessageIds, findInboundDuplicate, findOurMail, insertMessageWithRaw, storeAttachments, type MessageEvent } from './message-store.js';
import {
  openCases, recordEvent, recordEvents, caseTag, senderActivity, severityMeaning, addParticipant, reopenCase, type NewEvent, type NewParticipant, type OpenedCase,
} from './case-store.js';
import { formatLocal } from '../calendar/business-calendar.js';

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
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
}

/** Database errors that mean "try again later", not "this message is bad". */
function isTemporaryDatabaseError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  const code = e?.code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006', '40001', '40P01'].includes(code)
    || /Connection terminated|connect ECONNREFUSED|the database system is (starting|shutting) up|Client has encountered a connection error/i.test(e?.message ?? '');
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '23505' || /duplicate key value violates unique constraint/i.test((err as Error)?.message ?? '');
}

const ENGINEER_LIST_TTL_MS = 5_000;

export class MessageHandler implements IntakeHandler {
  private engineerList: { at: number; addresses: string[] } | null = null;

  /** The worker pool the service passes, else the in-process parser. */
  private readonly parse: (raw: Buffer) => Promise<ParsedMessage>;

  constructor(private readonly deps: MessageHandlerDeps) {
    this.parse = deps.parse ?? parseMessage;
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

  /** Handles one message as of `now`. */
  async handleAt(raw: Buffer, source: IntakeSource, now: Date): Promise<IntakeResult> {
    const { settings } = this.deps;
    if (isEmptyInput(raw)) throw new EmptyMessageError();
    if (raw.length > settings.limits.maxMessageBytes) return this.quarantineOversize(raw, source, now);

    let parsed: ParsedMessage;
    try {
      parsed = await this.parse(raw);
    } catch (err) {
      if (err instanceof TemporaryIntakeError) throw err;
      return this.quarantineAt(raw, source, `unparseable: ${errorText(err)}`, now);
    }
    // Everything written from here on derives from `parsed`: made acceptable to PostgreSQL once.
    parsed = pgSafeDeep(parsed);
    const hash = contentHash(raw);
    // No look-up first: the unique keys on messages (Message-ID + content hash; mailbox, UIDVALIDITY,
    // UID) refuse a second copy inside the transaction, which then rolls back. Duplicates are rare
    // and this saves a round trip on every other message.
    try {
      const result = await this.deps.db.transaction().execute((trx) => this.decideAndWrite(trx, raw, hash, parsed, source, now));
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

  private async decideAndWrite(trx: Trx, raw: Buffer, hash: string, parsed: ParsedMessage, source: IntakeSource, now: Date) {
    const { settings } = this.deps;
    const auto = classifyAutomatic(parsed, { ourMessageIdDomains: [settings.messageIdDomain], loopHeader: settings.loopHeader });
    const fromAddress = parsed.from?.address?.toLowerCase() || null;
    const sender: Sender = fromAddress ? await findSender(trx, fromAddress, now) : { kind: 'unknown', address: '' };
    const recipients = recipientsOf(parsed, source.envelopeRecipients);
    const ourMail = auto.automated ? await this.findOurMail(trx, parsed, recipients) : [];
    const referenced = await this.findReferencedCase(trx, parsed, auto, fromAddress, ourMail);
    const route = routeMessage({
      auto, recipients, escalationAddress: settings.addresses.escalation, sender: senderFacts(sender), referenced,
      reopenWindowDays: settings.timers.reopenWindowDays, now,
      doubtfulSender: doubtfulOriginator(parsed), refersToOurMail: referenced !== null && refersToOurMailOnCase(referenced.caseId, ourMail),
    });
    const reply = extractReply({ text: parsed.text, html: parsed.html });
    const base = {
      direction: 'inbound' as const, content_hash: hash, message_id_header: parsed.messageId,
      in_reply_to: parsed.inReplyTo, references: JSON.stringify(parsed.references), from_address: fromAddress,
      subject: parsed.subject, sent_at: parsed.date, received_at: now, source: source.kind, mailbox: source.mailbox,
      uid_validity: source.uidValidity, uid: source.uid, kind: auto.kind, classification: JSON.stringify(auto),
      sender_role: senderRole(sender), visible_text: reply.visibleText,
    };
    let queuedMail = false;
    const done = async (status: 'processed' | 'held' | 'ignored', caseId: number | null, reason: string | null, numbers: number[], events: readonly MessageEvent[] = []) => {
      const id = await insertMessageWithRaw(trx, raw, { ...base, case_id: caseId, status, status_reason: reason }, events);
      await storeAttachments(trx, id, parsed.attachments);
      return { id, result: { status, messageId: String(id), caseNumbers: numbers, reason } satisfies IntakeResult };
    };

    switch (route.kind) {
      case 'ignore-loop': {
        const r = await done('ignored', null, 'our own mail (loop)', []);
        return { result: r.result, queuedMail };
      }
      case 'automatic': {
        // Refused: stored without a case (not on the thread); the case's audit trail says so, for the operator only.
        const reason = route.refusedCaseId ? `automatic: ${auto.kind}; sender not allowed on the case it refers to` : `automatic: ${auto.kind}`;
        const r = await done(route.caseId ? 'processed' : 'ignored', route.caseId, reason, await this.numbersOf(trx, route.caseId));
        if (route.caseId) await recordEvent(trx, { caseId: route.caseId, messageId: r.id, at: now, actor: fromAddress ?? 'unknown', kind: 'automatic_mail_attached', data: { kind: auto.kind, reasons: auto.reasons } });
        if (route.refusedCaseId) {
          await recordEvent(trx, { caseId: route.refusedCaseId, messageId: r.id, at: now, actor: fromAddress ?? 'unknown', kind: 'automatic_mail_not_attached', data: { kind: auto.kind, reason: 'not_allowed_on_case' } });
        }
        await this.markBouncing(trx, addressesToMarkBouncing(auto.bounce, ourMail), auto, now);
        return { result: r.result, queuedMail };
      }
      case 'escalation': {
        // Escalation handling (spec section 7) is its own piece of work; until then the message is held, not lost.
        const r = await done('held', route.caseId, 'escalation', await this.numbersOf(trx, route.caseId));
        if (route.caseId) await recordEvent(trx, { caseId: route.caseId, messageId: r.id, at: now, actor: fromAddress ?? 'unknown', kind: 'escalation_received', data: {} });
        return { result: r.result, queuedMail };
      }
      case 'engineer': {
        const r = await done('processed', route.caseId, null, await this.numbersOf(trx, route.caseId));
        await recordEvent(trx, { caseId: route.caseId, messageId: r.id, at: now, actor: fromAddress ?? 'engineer', kind: 'engineer_message_received', data: { text: reply.visibleText.slice(0, 10_000) } });
        return { result: r.result, queuedMail };
      }
      case 'follow-up': {
        const r = await done('processed', route.caseId, null, await this.numbersOf(trx, route.caseId));
        if (route.addParticipant && fromAddress && sender.kind === 'contact') {
          await addParticipant(trx, route.caseId, { address: fromAddress, contactId: sender.id, role: 'organisation' });
        }
        await this.addCcParticipants(trx, route.caseId, parsed, sender);
        if (route.reopen) await reopenCase(trx, route.caseId, now, fromAddress ?? 'customer', r.id);
        else await this.customerReplied(trx, route.caseId, now, fromAddress ?? 'customer', r.id, reply.visibleText);
        return { result: r.result, queuedMail };
      }
      case 'new-request':
      case 'reopen-as-new': {
        if (sender.kind !== 'contact') throw new Error('new request from a non-contact');
        const { id, cases, acknowledge, recipients, limitNote } = await this.openCases(trx, parsed, reply.visibleText, sender, now, done, route.kind === 'reopen-as-new' ? route.previousCaseId : null);
        queuedMail = await this.queueNewCaseMail(trx, parsed, sender, cases, acknowledge, recipients, id, now) || queuedMail;
        return { result: { status: 'processed' as const, messageId: String(id), caseNumbers: cases.map((c) => c.number), reason: limitNote }, queuedMail };
      }
      case 'hold': {
        const r = await done('held', route.caseId, route.reason, await this.numbersOf(trx, route.caseId));
        if (route.caseId) {
          await recordEvent(trx, { caseId: route.caseId, messageId: r.id, at: now, actor: fromAddress ?? 'unknown', kind: 'message_held', data: { reason: route.reason } });
        }
        if (route.notifySender && fromAddress && !auto.automated) queuedMail = await this.queueNotEntitled(trx, route.notifySender, fromAddress, parsed, now) || queuedMail;
        if (route.notifyAssignee && route.caseId) queuedMail = await this.queueHeldNotice(trx, route.caseId, r.id, fromAddress ?? '(no sender)', parsed, route.reason, now) || queuedMail;
        return { result: r.result, queuedMail };
      }
    }
  }

  private async numbersOf(trx: Trx, caseId: number | null): Promise<number[]> {
    if (caseId === null) return [];
    const c = await trx.selectFrom('cases').select('number').where('id', '=', caseId).executeTakeFirst();
    return c ? [c.number] : [];
  }

  /**
   * Our outgoing mails an automatic message reports on: by a valid VERP return path among its
   * recipients, or by the Message-IDs it quotes.
   */
  private async findOurMail(trx: Trx, parsed: ParsedMessage, recipients: readonly string[]): Promise<OurMail[]> {
    const { settings, replyTokenSecret } = this.deps;
    const outboxId = replyTokenSecret && settings.replyTokens.enabled
      ? outboxIdFromReturnPath(recipients, settings.addresses.support, replyTokenSecret) : null;
    const messageIds = [...originalMessageIds(parsed), ...(parsed.inReplyTo ? [parsed.inReplyTo] : []), ...parsed.references];
    return findOurMail(trx, { outboxId, messageIds });
  }

  private async findReferencedCase(trx: Trx, parsed: ParsedMessage, auto: AutomaticClassification, fromAddress: string | null, ourMail: readonly OurMail[]): Promise<ReferencedCase | null> {
    const headerIds = [...(parsed.inReplyTo ? [parsed.inReplyTo] : []), ...parsed.references];
    if (auto.automated) headerIds.push(...originalMessageIds(parsed));
    let caseId = ourMail.find((m) => m.caseId !== null)?.caseId ?? null;
    caseId ??= await caseIdForMessageIds(trx, headerIds);
    let via: ReferencedCase['via'] = 'headers';
    if (caseId === null) {
      const ref = findCaseRef(parsed.subject, '', [this.deps.settings.caseNumber.prefix]);
      if (ref) {
        const c = await trx.selectFrom('cases').select('id').where('number', '=', ref.number).executeTakeFirst();
        if (c) {
          caseId = c.id;
          via = 'subject';
        }
      }
    }
    if (caseId === null) return null;
    const c = await trx.selectFrom('cases').select(['id', 'number', 'organisation_id', 'state', 'closed_at']).where('id', '=', caseId).executeTakeFirstOrThrow();
    const participant = fromAddress
      ? await trx.selectFrom('case_participants').select('address').where('case_id', '=', caseId).where('address', '=', fromAddress).executeTakeFirst()
      : undefined;
    return {
      caseId: c.id, number: c.number, organisationId: c.organisation_id, state: c.state, closedAt: c.closed_at,
      via, senderIsParticipant: participant !== undefined,
    };
  }

  private async openCases(
    trx: Trx, parsed: ParsedMessage, visibleText: string, sender: Extract<Sender, { kind: 'contact' }>, now: Date,
    done: (status: 'processed', caseId: number | null, reason: string | null, numbers: number[], events: readonly MessageEvent[]) => Promise<{ id: number }>,
    previousCaseId: number | null,
  ): Promise<{ id: number; cases: OpenedCase[]; acknowledge: boolean[]; recipients: { address: string; bouncing: boolean }[]; limitNote: string | null }> {
    const { settings } = this.deps;
    const subject = parsed.subject.trim() || '(no subject)';
    const whole = { title: subject, text: visibleText };
    const found = previousCaseId === null ? splitIssues(subject, visibleText) : [whole];
    const activity = await senderActivity(trx, sender.address, now, {
      newCases: settings.limits.maxNewCasesPerSenderPerHour, acknowledgements: settings.limits.maxAcknowledgementsPerSenderPerHour,
    });
    const plan = planNewCases(found, whole, activity, settings.limits);
    const parts = plan.parts;
    const group = parts.length > 1 ? `split:${parsed.messageId ?? contentHashShort(parsed)}` : null;
    const cc = await entitledContactsOf(trx, sender.organisationId, this.ccAddresses(parsed, sender.address));
    const participants: NewParticipant[] = [
      { address: sender.address, contactId: sender.id, role: 'requester' },
      ...cc.map((c) => ({ address: c.address, contactId: c.id, role: 'cc' as const })),
    ];
    const cases = await openCases(trx, settings, parts.map((part) => {
      const sev = suggestSeverity(part.title, part.text);
      return {
        organisationId: sender.organisationId, requesterContactId: sender.id, requesterAddress: sender.address,
        subject: parts.length > 1 ? part.title : subject, severity: sev.suggested,
        severitySource: sev.reasons.includes('default') ? 'default' as const : 'suggested' as const, severityReasons: sev.reasons,
        openedAt: now, splitGroup: group, organisationTimeZone: sender.organisationTimeZone, text: part.text,
      };
    }), participants);
    // `acknowledged` on case_opened is what the per-sender acknowledgement cap counts.
    const opened: MessageEvent[] = cases.map((c, i) => ({
      caseId: c.id, at: now, actor: sender.address, kind: 'case_opened',
      data: { severity: c.severity, severitySource: c.severitySource, split: cases.length > 1, acknowledged: plan.acknowledge[i] === true },
    }));
    const limitNote = describeHits(plan.hits);
    const msg = await done('processed', cases[0]?.id ?? null, limitNote, cases.map((c) => c.number), [...opened, ...limitEvents(plan.hits, cases, sender.address, now)]);
    const events: NewEvent[] = [];
    const links: { case_id: number; linked_case_id: number; kind: 'split_sibling' | 'reopened_from' }[] =
      cases.flatMap((c) => cases.filter((o) => o.id !== c.id).map((o) => ({ case_id: c.id, linked_case_id: o.id, kind: 'split_sibling' as const })));
    if (previousCaseId !== null) {
      for (const c of cases) {
        links.push({ case_id: c.id, linked_case_id: previousCaseId, kind: 'reopened_from' });
        events.push({ caseId: previousCaseId, messageId: msg.id, at: now, actor: sender.address, kind: 'follow_up_opened_new_case', data: { newCase: c.number } });
      }
    }
    if (links.length) await trx.insertInto('case_links').values(links).onConflict((oc) => oc.doNothing()).execute();
    await recordEvents(trx, events);
    const recipients = [{ address: sender.address, bouncing: sender.bouncing }, ...cc.map((c) => ({ address: c.address, bouncing: c.bouncing }))];
    return { id: msg.id, cases, acknowledge: plan.acknowledge, recipients, limitNote };
  }

  /** To/Cc addresses other than ours and the sender's: candidates for participants. */
  private ccAddresses(parsed: ParsedMessage, senderAddress: string): string[] {
    const own = new Set(ownAddresses(this.deps.settings));
    const all = [...parsed.to, ...parsed.cc].map((a) => a.address.toLowerCase()).filter((a) => a && !own.has(a) && a !== senderAddress);
    return [...new Set(all)].slice(0, this.deps.settings.limits.maxRecipients);
  }

  private async addCcParticipants(trx: Trx, caseId: number, parsed: ParsedMessage, sender: Sender): Promise<void> {
    const orgId = sender.kind === 'contact' ? sender.organisationId
      : (await trx.selectFrom('cases').select('organisation_id').where('id', '=', caseId).executeTakeFirstOrThrow()).organisation_id;
    const senderAddress = sender.kind === 'unknown' ? '' : sender.address;
    for (const c of await entitledContactsOf(trx, orgId, this.ccAddresses(parsed, senderAddress))) {
      await addParticipant(trx, caseId, { address: c.address, contactId: c.id, role: 'cc' });
    }
  }

  private async customerReplied(trx: Trx, caseId: number, now: Date, actor: string, messageRowId: number, text: string): Promise<void> {
    const c = await trx.selectFrom('cases').select(['state']).where('id', '=', caseId).executeTakeFirstOrThrow();
    const confirmed = isClosePhrase(text, this.deps.settings.closePhrases);
    if (confirmed) {
      await trx.updateTable('cases').set({
        state: 'closed', closed_at: now, close_reason: c.state === 'resolution_proposed' ? 'customer_confirmed' : 'customer_closed',
        auto_close_at: null, auto_close_reason: null, next_reminder_at: null, state_entered_at: now, updated_at: now,
      }).where('id', '=', caseId).execute();
      await recordEvent(trx, { caseId, messageId: messageRowId, at: now, actor, kind: 'closed_by_customer', data: { from: c.state } });
      return;
    }
    if (c.state === 'awaiting_customer' || c.state === 'resolution_proposed') {
      // Any customer reply clears the waiting state's timers.
      await trx.updateTable('cases').set({ state: 'open', auto_close_at: null, auto_close_reason: null, next_reminder_at: null, state_entered_at: now, updated_at: now })
        .where('id', '=', caseId).execute();
      await recordEvent(trx, { caseId, messageId: messageRowId, at: now, actor, kind: 'customer_replied', data: { from: c.state, to: 'open' } });
      return;
    }
    await trx.updateTable('cases').set({ updated_at: now }).where('id', '=', caseId).execute();
    await recordEvent(trx, { caseId, messageId: messageRowId, at: now, actor, kind: 'customer_replied', data: { state: c.state } });
  }

  private async queueNewCaseMail(
    trx: Trx, parsed: ParsedMessage, sender: Extract<Sender, { kind: 'contact' }>, cases: OpenedCase[], acknowledge: readonly boolean[],
    recipients: { address: string; bouncing: boolean }[], messageRowId: number, now: Date,
  ): Promise<boolean> {
    const { settings } = this.deps;
    const summaries: CaseSummary[] = cases.map((c) => ({ number: c.number, tag: caseTag(settings, c.number), subject: c.subject }));
    const engineers = settings.addresses.queue ? [settings.addresses.queue] : await this.activeEngineers(trx, now);
    const references = [...parsed.references, ...(parsed.messageId ? [parsed.messageId] : [])].slice(-20);
    // A recipient whose mail bounces permanently is not written to again.
    const to = recipients.filter((r) => !r.bouncing).map((r) => r.address);
    const attachments = parsed.attachments.filter((a) => !a.inline).map((a) => ({ filename: a.filename ?? '(unnamed)', size: a.size }));
    const mails: OutgoingMail[] = [];
    for (const [i, c] of cases.entries()) {
      const summary = summaries[i]!;
      const siblings = summaries.filter((_, j) => j !== i);
      if (to.length > 0 && acknowledge[i] !== false) {
        mails.push({
          causeKey: `ack:${messageRowId}:${c.number}`, kind: 'acknowledgement', caseId: c.id,
          to: [to[0]!], cc: to.slice(1), subject: `${summary.tag} ${c.subject}`,
          inReplyTo: parsed.messageId, references, autoSubmitted: 'auto-replied',
          data: {
            case: summary, requesterName: sender.name || sender.address, severity: c.severity, severityMeaning: severityMeaning(c.severity),
            targetResponseLocal: formatLocal(c.firstResponseDueAt, sender.organisationTimeZone), siblings,
            supportAddress: settings.addresses.support, escalationAddress: settings.addresses.escalation,
          },
        } satisfies OutgoingMail<'acknowledgement'>);
      }
      if (engineers.length > 0) {
        mails.push({
          causeKey: `new-case:${c.number}`, kind: 'new-case-notification', caseId: c.id,
          to: engineers, subject: `${summary.tag} New case (severity ${c.severity}): ${c.subject}`,
          replyTo: settings.addresses.support, autoSubmitted: 'auto-generated',
          data: {
            case: summary, severity: c.severity, requester: { name: sender.name, address: sender.address }, organisation: sender.organisationName,
            targetResponseLocal: formatLocal(c.firstResponseDueAt, settings.calendar.timeZone), text: c.text ?? '', attachments, siblings,
          },
        } satisfies OutgoingMail<'new-case-notification'>);
      }
    }
    const inserted = await enqueueMails(trx, mails, { messageIdDomain: settings.messageIdDomain, now });
    return inserted.size > 0;
  }

  /**
   * Addresses of the active engineers, who get new-case notifications when no queue address is
   * configured. Read at most every ENGINEER_LIST_TTL_MS: a burst of new cases costs one query, and
   * a directory import shows within seconds.
   */
  private async activeEngineers(trx: Trx, now: Date): Promise<string[]> {
    const cached = this.engineerList;
    if (cached && Math.abs(now.getTime() - cached.at) < ENGINEER_LIST_TTL_MS) return cached.addresses;
    const addresses = (await trx.selectFrom('engineers').select('address').where('active', '=', true).orderBy('address').execute()).map((e) => e.address);
    this.engineerList = { at: now.getTime(), addresses };
    return addresses;
  }

  private async queueNotEntitled(trx: Trx, reason: NoticeReason, address: string, parsed: ParsedMessage, now: Date): Promise<boolean> {
    const { settings } = this.deps;
    if (ownAddresses(settings).includes(address)) return false;
    // At most one notice per address per day: the cause key carries the day.
    const day = now.toISOString().slice(0, 10);
    const r = await enqueueMail(trx, {
      causeKey: `not-entitled:${address}:${day}`, kind: 'not-entitled', caseId: null, to: [address],
      subject: `Re: ${parsed.subject || 'your message to support'}`, inReplyTo: parsed.messageId,
      references: parsed.messageId ? [parsed.messageId] : [], autoSubmitted: 'auto-replied',
      data: { reason, senderAddress: address, supportAddress: settings.addresses.support },
    }, { messageIdDomain: settings.messageIdDomain, now });
    return r.inserted;
  }

  private async queueHeldNotice(trx: Trx, caseId: number, messageRowId: number, sender: string, parsed: ParsedMessage, reason: string, now: Date): Promise<boolean> {
    const { settings } = this.deps;
    const c = await trx.selectFrom('cases').leftJoin('engineers', 'engineers.id', 'cases.assignee_engineer_id')
      .select(['cases.number', 'cases.subject', 'engineers.address as assignee']).where('cases.id', '=', caseId).executeTakeFirstOrThrow();
    const to = c.assignee ?? settings.addresses.queue;
    if (!to) return false;
    await enqueueMail(trx, {
      causeKey: `held:${messageRowId}`, kind: 'held-message-notice', caseId, to: [to],
      subject: `${caseTag(settings, c.number)} Message held: ${parsed.subject}`, autoSubmitted: 'auto-generated',
      data: { case: { number: c.number, tag: caseTag(settings, c.number), subject: c.subject }, sender, subject: parsed.subject, reason },
    }, { messageIdDomain: settings.messageIdDomain, now });
    return true;
  }

  /** Marks these addresses (recipients of our mail that a permanent bounce names) as bouncing. */
  private async markBouncing(trx: Trx, recipients: readonly string[], auto: AutomaticClassification, now: Date): Promise<void> {
    if (recipients.length === 0) return;
    await trx.updateTable('contacts').set({ bouncing_since: now, bounce_reason: (auto.bounce?.statuses ?? []).join(', ') || 'permanent bounce' })
      .where('address', 'in', recipients).where('bouncing_since', 'is', null).execute();
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
        const r = await enqueueMail(trx, {
          causeKey: `oversize:${from}:${now.toISOString().slice(0, 10)}`, kind: 'oversize-notice', caseId: null, to: [from],
          subject: `Re: ${parsed?.subject || 'your message to support'}`, inReplyTo: parsed?.messageId ?? null, autoSubmitted: 'auto-replied',
          data: { subject: parsed?.subject ?? '', sizeBytes: raw.length, limitBytes: settings.limits.maxMessageBytes, supportAddress: settings.addresses.support },
        }, { messageIdDomain: settings.messageIdDomain, now });
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

function contentHashShort(parsed: ParsedMessage): string {
  return `${parsed.subject}:${parsed.date?.toISOString() ?? ''}`.slice(0, 100);
}

/** One audit event per opened case naming the caps this message ran into. */
function limitEvents(hits: readonly LimitHit[], cases: readonly OpenedCase[], actor: string, at: Date): MessageEvent[] {
  if (hits.length === 0) return [];
  return cases.map((c) => ({ caseId: c.id, at, actor, kind: 'intake_limit_reached', data: { limits: hits } as Record<string, unknown> }));
}

function senderFacts(s: Sender): SenderFacts {
  if (s.kind === 'engineer') return { kind: 'engineer', active: s.active };
  if (s.kind === 'contact') return { kind: 'contact', organisationId: s.organisationId, admin: s.admin, active: s.active, entitled: s.entitled };
  return { kind: 'unknown' };
}

function senderRole(s: Sender): string {
  if (s.kind === 'engineer') return s.supervisor ? 'supervisor' : 'engineer';
  if (s.kind === 'contact') return s.admin ? 'org_admin' : 'customer';
  return 'unknown';
}
