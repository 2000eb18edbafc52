// The contract between the three intakes (IMAP, SMTP, pipe) and the one message handler.
// Adapters own transport and acknowledgement; the handler owns storing, classifying and the transaction.

export interface IntakeSource {
  kind: 'imap' | 'smtp' | 'pipe';
  /** IMAP: "<account>/<folder>" as configured; SMTP/pipe: null. */
  mailbox: string | null;
  uidValidity: number | null;
  uid: number | null;
  /** SMTP RCPT TO addresses (lower-cased); empty for IMAP and pipe. */
  envelopeRecipients: string[];
}

/** When the message reached us (IMAP: INTERNALDATE), where the intake knows; metrics measure lag from it. */
export interface IntakeArrival {
  at: Date;
}

export type IntakeStatus = 'processed' | 'held' | 'quarantined' | 'ignored' | 'duplicate';

export interface IntakeResult {
  status: IntakeStatus;
  /** Id of the stored message row (the existing one for a duplicate). */
  messageId: string;
  /** Case numbers the message created or joined. */
  caseNumbers: number[];
  reason: string | null;
}

export interface IntakeHandler {
  /**
   * Stores the raw message exactly once and writes its outcome in one transaction.
   * Resolves once committed. Rejects with TemporaryIntakeError when it could not commit and a
   * retry may succeed (database down); any other rejection is a bug in handling this message.
   */
  handle(raw: Buffer, source: IntakeSource, arrival?: IntakeArrival): Promise<IntakeResult>;
  /**
   * Optional group commit: several messages in one transaction. A result per message committed
   * so; null for each message the intake must then `handle` alone (a group that fails keeps nothing).
   */
  handleGroup?(items: readonly { raw: Buffer; source: IntakeSource; arrival?: IntakeArrival }[]): Promise<(IntakeResult | null)[]>;
  /** Keeps a message that keeps failing, with the error, so nothing is lost. */
  quarantine(raw: Buffer, source: IntakeSource, error: unknown): Promise<IntakeResult>;
  /**
   * Optional: starts the work on a message that needs no database (understanding it) while the
   * message still waits for its commit; `handle` and `handleGroup` of the same Buffer then use it.
   */
  prepare?(raw: Buffer): void;
}

/** Where an IMAP intake remembers how far it got in a mailbox. Advanced only after commit. */
export interface MailboxCursorStore {
  get(mailbox: string): Promise<{ uidValidity: number; lastUid: number } | null>;
  set(mailbox: string, cursor: { uidValidity: number; lastUid: number }): Promise<void>;
}

export class TemporaryIntakeError extends Error {
  readonly code = 'temporary_intake_failure';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TemporaryIntakeError';
  }
}

/**
 * The handler refuses an empty message (no bytes, or nothing but trace fields) instead of storing
 * it: there is nothing to keep. The pipe exits 65 (EX_DATAERR); SMTP answers a permanent 5xx.
 */
export class EmptyMessageError extends Error {
  readonly code = 'empty_message';
  constructor() {
    super('empty message: no header fields of its own and no body; nothing was stored');
    this.name = 'EmptyMessageError';
  }
}
