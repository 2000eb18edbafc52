// Delivers the outbox: claims due rows under a lease (one short statement), renders and builds
// each message with nodemailer's MailComposer (a relay gets its engineer's name on From and the
// attachments of the message it relays, read for that one mail), sends it through a MailTransport outside any
// transaction, then records the result (sent + outbound message, retry with backoff, or failed).
// Speed: the bouncing addresses are read once per claimed batch, and mails the relay accepted while
// an earlier "sent" commit was in flight are recorded together in the next one (group commit).
// Every mail passes build(): our own addresses (and, on automatic mail, addresses marked bouncing)
// are dropped from To/Cc there, headers are bounded,
// and a composed message with a header line over 998 characters is refused.
// I/O: the database handle, the transport; the clock is read only by the start() loop.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import MailComposer from 'nodemailer/lib/mail-composer';
import { ownAddresses, type Config } from '../config/config.js';
import { isTemporaryDatabaseError, type Db } from '../db/database.js';
import { isProcessAlive } from '../db/process-alive.js';
import type { Logger } from '../log/logger.js';
import { sanitizeRelayHtml } from './relay-html.js';
import {
  bouncingAddresses, claimDueMail, loadMailAttachments, markMailFailed, markMailsSent, releaseAbandonedLeases, releaseMail, scheduleMailRetry, stripHeaderBreaks,
  type ClaimedMail, type SentRecord,
} from './outbox-store.js';
import {
  boundMailData, boundName, boundReferences, boundSubject, longestHeaderLine, MAX_LINE_CHARS, messageIds, sendableRecipients,
} from './mail-bounds.js';
import { nextAttemptAt, type BackoffPolicy } from './retry-backoff.js';
import { classifySendError, describeSendFailure } from './smtp-error.js';
import { isMailKind, loadMailTemplates, type MailTemplates } from './templates.js';
import { createMailTransport, type MailTransport } from './transport.js';

export interface OutboxDispatcherOptions {
  db: Db;
  transport: MailTransport;
  templates: MailTemplates;
  logger: Logger;
  /** From of everything we send, and the envelope sender (bounces come back to intake). */
  supportAddress: string;
  /** Display name in From, unless the row names its own (a relay: "Erin Example via Support"). */
  fromName?: string;
  /**
   * Bound on the attachments one mail carries (encoded), normally the message size limit: over it,
   * the mail goes without them and says which were left out (default 25 MB).
   */
  maxAttachmentBytes?: number;
  /**
   * Addresses we receive at (support, escalation, aliases): never written to, +tag variants
   * included, so a notice cannot loop back into intake. Default: the support address.
   */
  ownAddresses?: readonly string[];
  /** Header name put on every mail we send, valued with the support address, to recognise loops. */
  loopHeader: string;
  maxAttempts: number;
  retryBaseSeconds: number;
  /** Cap on one retry wait (default one hour). */
  maxRetryDelaySeconds?: number;
  /** How long a claim lasts; must exceed the longest possible send (default 10 minutes). */
  leaseSeconds?: number;
  /** Rows claimed per statement (default 50). */
  batchSize?: number;
  /**
   * Mails in flight at once (default 4): built, handed to the transport (the SMTP pool sends on up to
   * 3 connections), and recorded. More in flight means larger "sent" commits (16: ~700 mails/s against
   * ~500 with 4 in the delivery bench) but also more mails the relay accepted and a crash left
   * unrecorded, each delivered again after the restart: 4 keeps a crash's doubles to about one
   * (at most DEFAULT_SEND_CONCURRENCY: each mail in flight waits for its record before the next).
   */
  concurrency?: number;
  /** The start() loop's poll when nobody calls wake() (default 5 s). */
  pollIntervalMs?: number;
  /** Name in locked_by; default host:pid:random. */
  owner?: string;
  /** Jitter source; defaults to Math.random. */
  random?: () => number;
  /** Only the start() loop reads it; defaults to the system clock. */
  clock?: () => Date;
  /** Told each row's outcome once it is recorded (the service counts them for its metrics). */
  onOutcome?: (outcome: 'sent' | 'retried' | 'failed' | 'released', row: { id: number; kind: string }) => void;
}

export interface DispatchResult {
  sent: number;
  retried: number;
  failed: number;
}

type Outcome = keyof DispatchResult | 'released';

/** A message ready for the transport. */
interface BuiltMail {
  raw: Buffer;
  text: string;
  envelopeTo: string[];
}

/** build() found nobody to send to: recorded on the row as the reason it was not sent. */
class NoRecipientError extends Error {
  readonly code = 'outbox_no_recipient';
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*[\r\n]+\s*/g, ' ').slice(0, 1000);
}

export class OutboxDispatcher {
  private readonly db: Db;
  private readonly transport: MailTransport;
  private readonly templates: MailTemplates;
  private readonly log: Logger;
  private readonly supportAddress: string;
  private readonly fromName: string;
  private readonly maxAttachmentBytes: number;
  private readonly ownAddresses: readonly string[];
  private readonly loopHeader: string;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;
  private readonly random: () => number;
  private readonly clock: () => Date;
  private readonly onOutcome: OutboxDispatcherOptions['onOutcome'];
  readonly owner: string;

  private loop: Promise<void> | null = null;
  /** Accepted mails waiting for the next "sent" commit, and that commit while it runs. */
  private sentQueue: { entry: SentEntry; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private sentFlush: Promise<void> | null = null;
  private stopping = false;
  private wakeRequested = false;
  private wakeIdle: (() => void) | null = null;

  constructor(opts: OutboxDispatcherOptions) {
    this.db = opts.db;
    this.transport = opts.transport;
    this.templates = opts.templates;
    this.supportAddress = opts.supportAddress;
    this.fromName = boundName(opts.fromName ?? 'Support');
    this.maxAttachmentBytes = opts.maxAttachmentBytes ?? 25 * 1024 * 1024;
    this.ownAddresses = opts.ownAddresses ?? [opts.supportAddress];
    this.loopHeader = opts.loopHeader;
    this.maxAttempts = opts.maxAttempts;
    this.backoff = { baseSeconds: opts.retryBaseSeconds, maxSeconds: opts.maxRetryDelaySeconds ?? 3600, jitter: 0.1 };
    this.leaseMs = (opts.leaseSeconds ?? 600) * 1000;
    this.batchSize = opts.batchSize ?? 50;
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_SEND_CONCURRENCY);
    this.pollIntervalMs = opts.pollIntervalMs ?? 5000;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? (() => new Date());
    this.onOutcome = opts.onOutcome;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.log = opts.logger.child({ component: 'outbox', owner: this.owner });
  }

  /**
   * Delivers every row due at `now`, batch by batch, until none is left (rows that fail are
   * rescheduled after `now`, so this ends). Errors of single rows are recorded on the rows;
   * only a failing claim (database down) throws.
   */
  async runOnce(now: Date): Promise<DispatchResult> {
    const result: DispatchResult = { sent: 0, retried: 0, failed: 0 };
    while (!this.stopping) {
      const rows = await claimDueMail(this.db, { now, leaseMs: this.leaseMs, owner: this.owner, limit: this.batchSize });
      if (rows.length === 0) break;
      const bouncing = this.bouncingOf(rows);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < rows.length) {
          const row = rows[next++] as ClaimedMail;
          const outcome = await this.deliver(row, now, bouncing);
          this.onOutcome?.(outcome, { id: row.id, kind: row.kind });
          if (outcome !== 'released') result[outcome] += 1;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, rows.length) }, worker));
      if (rows.length < this.batchSize) break;
    }
    return result;
  }

  /** Runs runOnce in the background: after wake(), and every pollIntervalMs. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.releaseAbandoned().then(() => this.runLoop());
  }

  /** Mail a killed dispatcher on this host had claimed goes out now rather than when its lease ends. */
  async releaseAbandoned(): Promise<number> {
    try {
      const freed = await releaseAbandonedLeases(this.db, hostname(), isProcessAlive);
      if (freed > 0) this.log.warn({ freed }, 'released mail claimed by a dispatcher that died on this host');
      return freed;
    } catch (err) {
      this.log.error({ err }, 'could not release abandoned leases; they expire by themselves');
      return 0;
    }
  }

  /** Call after committing a transaction that enqueued mail: the loop runs now instead of at the next poll. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeIdle?.();
  }

  /** Stops the loop: sends already handed to the transport finish and are recorded; claimed rows not yet sent are released. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeIdle?.();
    await this.loop;
    this.loop = null;
  }

  /** stop(), then close the transport (the SMTP pool's connections). */
  async close(): Promise<void> {
    await this.stop();
    await this.transport.close();
  }

  private async runLoop(): Promise<void> {
    this.log.info({ transport: this.transport.name }, 'outbox dispatcher started');
    while (!this.stopping) {
      this.wakeRequested = false;
      let failedRun = false;
      try {
        const r = await this.runOnce(this.clock());
        if (r.sent + r.retried + r.failed > 0) this.log.info(r, 'outbox run');
      } catch (err) {
        failedRun = true;
        this.log.error({ err }, 'outbox run failed; trying again later');
      }
      if (this.stopping) break;
      if (this.wakeRequested && !failedRun) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.pollIntervalMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeIdle = done;
      });
      this.wakeIdle = null;
    }
    this.log.info('outbox dispatcher stopped');
  }

  /** One row, start to finish. Never throws: every outcome is recorded on the row (or left to the lease). */
  private async deliver(row: ClaimedMail, now: Date, bouncing: Promise<Map<string, string>>): Promise<Outcome> {
    const log = this.log.child({ outboxId: row.id, caseId: row.caseId, kind: row.kind, attempt: row.attempts });
    let built: BuiltMail;
    try {
      built = await this.build(row, now, bouncing);
    } catch (err) {
      if (err instanceof NoRecipientError) {
        log.warn({ reason: err.message }, 'mail has no recipient we may write to; not sent');
        return this.record(log, 'failed', () => markMailFailed(this.db, row.id, `not sent: ${errorText(err)}`));
      }
      if (isTemporaryDatabaseError(err)) {
        // Building reads the database (bouncing addresses, attachments): a lost connection is not the mail's fault.
        log.warn({ err }, 'database unavailable while building the mail; it is tried again');
        return this.record(log, 'retried', () => scheduleMailRetry(this.db, row.id, nextAttemptAt(now, row.attempts, this.backoff, this.random), `database unavailable: ${errorText(err)}`));
      }
      log.error({ err }, 'cannot build the mail; marking it failed');
      return this.record(log, 'failed', () => markMailFailed(this.db, row.id, `cannot build the mail: ${errorText(err)}`));
    }
    if (this.stopping) {
      return this.record(log, 'released', () => releaseMail(this.db, row.id, this.owner));
    }

    let response: string;
    let rejected: string[];
    try {
      ({ response, rejected } = await this.transport.send({
        from: this.supportAddress,
        to: built.envelopeTo,
        raw: built.raw,
        label: { at: now, caseNumber: row.caseNumber, outboxId: row.id },
      }));
    } catch (err) {
      const failure = classifySendError(err);
      const reason = describeSendFailure(failure);
      if (failure.permanent) {
        log.warn({ reply: failure.reply, code: failure.code }, 'permanent send failure; marking the mail failed');
        return this.record(log, 'failed', () => markMailFailed(this.db, row.id, reason));
      }
      if (row.attempts >= this.maxAttempts) {
        log.warn({ reply: failure.reply, code: failure.code }, 'temporary send failure on the last attempt; marking the mail failed');
        return this.record(log, 'failed', () => markMailFailed(this.db, row.id, `gave up after ${row.attempts} attempts: ${reason}`));
      }
      const at = nextAttemptAt(now, row.attempts, this.backoff, this.random);
      log.info({ reply: failure.reply, code: failure.code, nextAttemptAt: at }, 'temporary send failure; will retry');
      return this.record(log, 'retried', () => scheduleMailRetry(this.db, row.id, at, reason));
    }

    // The server has the mail. If this commit fails (or the process dies first) the lease expires
    // and the row goes out again with the same Message-ID: the one double delivery spec §6 allows.
    const sha256 = createHash('sha256').update(built.raw).digest('hex');
    log.debug({ response }, 'mail sent');
    const entry: SentEntry = { mail: row, record: { raw: built.raw, sha256, fromAddress: this.supportAddress, text: built.text, rejected }, now };
    return this.record(log, 'sent', () => this.recordSent(entry));
  }

  /**
   * The contacts marked bouncing among the recipients of a batch's automatic mail, in one query.
   * A failure (database away) reaches each row that needs the answer, as its build's error.
   */
  private bouncingOf(rows: readonly ClaimedMail[]): Promise<Map<string, string>> {
    const addresses = rows.filter((r) => r.autoSubmitted).flatMap((r) => [...r.to, ...r.cc]);
    const lookup = addresses.length === 0 ? Promise.resolve(new Map<string, string>()) : bouncingAddresses(this.db, addresses);
    lookup.catch(() => {}); // awaited by every automatic row's build; this only keeps an early failure from being "unhandled"
    return lookup;
  }

  /** Resolves once `entry` is committed as sent, together with whatever else was accepted meanwhile. */
  private recordSent(entry: SentEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sentQueue.push({ entry, resolve, reject });
      this.sentFlush ??= this.flushSent();
    });
  }

  private async flushSent(): Promise<void> {
    try {
      while (this.sentQueue.length > 0) {
        const group = this.sentQueue.splice(0, MAX_SENT_GROUP);
        try {
          await markMailsSent(this.db, group.map((g) => g.entry));
          for (const g of group) g.resolve();
        } catch (err) {
          if (group.length === 1 || isTemporaryDatabaseError(err)) {
            for (const g of group) g.reject(err);
            continue;
          }
          // One row the database refuses must not leave the others to their leases: each alone.
          for (const g of group) await markMailsSent(this.db, [g.entry]).then(g.resolve, g.reject);
        }
      }
    } finally {
      this.sentFlush = null;
    }
  }

  /**
   * Runs a bookkeeping write. A lost connection is tried again on a fresh one (the pool reconnects)
   * for up to half the lease, with growing pauses: a database restart takes seconds, and a row left
   * to its lease is held back for the lease's length and, when it was sent, sent a second time then.
   */
  private async record(log: Logger, outcome: Outcome, write: () => Promise<void>): Promise<Outcome> {
    const giveUpAt = Date.now() + this.leaseMs / 2;
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        return outcome;
      } catch (err) {
        if (isTemporaryDatabaseError(err) && !this.stopping && Date.now() < giveUpAt) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(RECORD_MAX_PAUSE_MS, 100 * 3 ** (attempt - 1))));
          continue;
        }
        log.error({ err, outcome }, 'cannot record the outcome; the row is retried when its lease expires');
        return outcome;
      }
    }
  }

  private async build(row: ClaimedMail, now: Date, batchBouncing: Promise<Map<string, string>>): Promise<BuiltMail> {
    // Automatic mail queued before a permanent bounce marked an address must not go there now;
    // a human relay still goes (the engineer chose to write).
    const bouncing = row.autoSubmitted ? ownBouncing(await batchBouncing, [...row.to, ...row.cc]) : new Map<string, string>();
    const reachable = (list: readonly string[]) => list.filter((a) => !bouncing.has(a.trim().toLowerCase()));
    const { to, cc, dropped } = sendableRecipients(reachable(row.to), reachable(row.cc), this.ownAddresses);
    dropped.unshift(...[...bouncing].map(([address, reason]) => ({ address, reason: `bouncing since a permanent bounce (${reason})` })));
    if (to.length === 0) {
      const why = dropped.map((d) => `${d.address} (${d.reason})`).join(', ');
      throw new NoRecipientError(`no recipient left${why ? `: ${why}` : ''}`);
    }
    // Rows written before bounding existed are bounded here too (idempotent for newer rows).
    let data: unknown = isMailKind(row.template) ? boundMailData(row.template, row.data as never) : row.data;
    // The template puts a relay's HTML in unescaped; whoever wrote the row, it is sanitised again here.
    const relayHtml = row.template === 'engineer-relay' ? (data as { html?: unknown }).html : undefined;
    if (typeof relayHtml === 'string') data = { ...(data as object), html: sanitizeRelayHtml(relayHtml) };
    let { text, html } = this.templates.renderStored(row.template, data);
    const { attachments, omitted } = row.attachmentsFrom === null
      ? { attachments: [], omitted: [] }
      : await loadMailAttachments(this.db, row.attachmentsFrom, { maxEncodedBytes: this.maxAttachmentBytes, shownCids: cidsShown(html) });
    if (omitted.length > 0) {
      const note = omittedNote(omitted);
      text = `${text.trimEnd()}\n\n${note}\n`;
      html = `${html}<p>${escapeHtml(note)}</p>`;
    }
    const inReplyTo = messageIds([row.inReplyTo])[0];
    // RFC 5322 §3.6.4: References is the parent's References followed by the parent's Message-ID.
    const references = boundReferences([...row.references, inReplyTo]);
    const [messageId] = messageIds([row.messageIdHeader]);
    if (!messageId) throw new Error(`stored Message-ID ${JSON.stringify(row.messageIdHeader)} is not a msg-id`);

    const headers: Record<string, string> = { [this.loopHeader]: this.supportAddress };
    if (row.autoSubmitted) {
      headers['Auto-Submitted'] = stripHeaderBreaks(row.autoSubmitted);
      // Exchange/Outlook honour this instead of Auto-Submitted: no out-of-office replies to us.
      headers['X-Auto-Response-Suppress'] = 'All';
    }
    const composer = new MailComposer({
      from: { name: row.fromName ? stripHeaderBreaks(boundName(row.fromName)) : this.fromName, address: this.supportAddress },
      to,
      ...(cc.length > 0 ? { cc } : {}),
      // One plain address or none: a stored value that reads as a list or group never becomes extra reply addresses.
      ...(singleAddress(row.replyTo) ? { replyTo: singleAddress(row.replyTo)! } : {}),
      subject: boundSubject(row.subject),
      messageId,
      ...(inReplyTo ? { inReplyTo } : {}),
      ...(references.length > 0 ? { references } : {}),
      date: now,
      headers,
      text,
      html,
      ...(attachments.length > 0
        ? {
          attachments: attachments.map((a) => ({
            filename: a.filename, contentType: a.contentType, content: a.content,
            ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : { contentDisposition: 'attachment' as const }),
          })),
        }
        : {}),
      // Template output is text; nothing may make nodemailer read a file or URL.
      disableFileAccess: true,
      disableUrlAccess: true,
      // CRLF throughout, as on the wire: the stored raw, the .eml file and what the server got are the same bytes.
      newline: 'win',
    });
    const raw = await composer.compile().build();
    const longest = longestHeaderLine(raw);
    if (longest > MAX_LINE_CHARS) throw new Error(`a header line has ${longest} characters (RFC 5322 allows ${MAX_LINE_CHARS})`);
    return { raw, text, envelopeTo: [...to, ...cc] };
  }
}

/** A mail recorded as sent: the row, what went out, and when. */
type SentEntry = { mail: ClaimedMail; record: SentRecord; now: Date };

/** Rows in one "sent" commit at most: bounds the statement's parameters and the raw bytes it carries. */
const MAX_SENT_GROUP = 100;

/** Mails a dispatcher has in flight at once unless told otherwise (OutboxDispatcherOptions.concurrency). */
export const DEFAULT_SEND_CONCURRENCY = 4;

/** The entries of a batch's bouncing map that are this mail's recipients. */
function ownBouncing(batch: ReadonlyMap<string, string>, addresses: readonly string[]): Map<string, string> {
  const own = new Map<string, string>();
  for (const a of addresses) {
    const key = a.trim().toLowerCase();
    const reason = batch.get(key);
    if (reason !== undefined) own.set(key, reason);
  }
  return own;
}

/** The Content-IDs the HTML shows as images (`src="cid:…"`, RFC 2392: URL-encoded). */
function cidsShown(html: string): Set<string> {
  const out = new Set<string>();
  for (const m of html.matchAll(/\bsrc\s*=\s*["']?cid:([^"'\s>]+)/gi)) {
    const id = m[1] as string;
    out.add(id);
    try {
      out.add(decodeURIComponent(id));
    } catch {
      // A malformed escape: the id as written is all there is.
    }
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fileSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** Said in the mail when its attachments were too large to go with it; they stay with the case. */
function omittedNote(omitted: readonly { filename: string; size: number }[]): string {
  const list = omitted.slice(0, 20).map((o) => `${o.filename} (${fileSize(o.size)})`).join(', ');
  const more = omitted.length > 20 ? ` and ${omitted.length - 20} more` : '';
  return `[Not attached, too large to send by mail: ${list}${more}. They are kept with the case; reply to this mail if you need them.]`;
}

/** The dispatcher `casemail start` runs: templates from the config's folder (a broken one fails here), transport by configuration. */
export function createOutboxDispatcher(opts: {
  config: Config; db: Db; logger: Logger; transport?: MailTransport; templates?: MailTemplates; clock?: () => Date; onOutcome?: OutboxDispatcherOptions['onOutcome'];
}): OutboxDispatcher {
  const { settings, paths } = opts.config;
  return new OutboxDispatcher({
    db: opts.db,
    logger: opts.logger,
    templates: opts.templates ?? loadMailTemplates(paths.templatesDir),
    transport: opts.transport ?? createMailTransport(opts.config, opts.logger),
    supportAddress: settings.addresses.support,
    ownAddresses: ownAddresses(settings),
    loopHeader: settings.loopHeader,
    maxAttachmentBytes: settings.limits.maxMessageBytes,
    maxAttempts: settings.outbox.maxAttempts,
    retryBaseSeconds: settings.outbox.retryBaseSeconds,
    pollIntervalMs: settings.outbox.pollSeconds * 1000,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.onOutcome ? { onOutcome: opts.onOutcome } : {}),
  });
}

/** Longest pause between tries of a bookkeeping write that lost its connection (100 ms, 300 ms, 900 ms, then this): short, so a stop is not held up. */
const RECORD_MAX_PAUSE_MS = 2_000;

/** `value` when it is exactly one bare address (local@domain, no spaces, commas, brackets or line breaks), else null. */
export function singleAddress(value: string | null): string | null {
  if (!value) return null;
  const v = value.trim();
  return /^[^\s@,;:<>()"[\]\\]+@[^\s@,;:<>()"[\]\\]+$/.test(v) ? v : null;
}
