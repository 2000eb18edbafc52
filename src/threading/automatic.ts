// Automatic-mail detection: auto-replies, bounces, delivery and feedback reports, list mail and
// our own mail coming back. Pure: reads only the ParsedMessage it is given.
import type { ParsedMessage } from './parsed-message.js';

export type MailKind = 'human' | 'auto-reply' | 'bounce' | 'delivery-report' | 'feedback-report' | 'loop';

export interface BounceInfo {
  statuses: string[];
  recipients: string[];
  permanent: boolean;
}

export interface AutomaticClassification {
  kind: MailKind;
  /** True: must never be answered automatically. */
  automated: boolean;
  mailingList: boolean;
  reasons: string[];
  bounce: BounceInfo | null;
}

export interface AutomaticOptions {
  /** Domains of our own Message-IDs: mail carrying one in Message-ID is our own coming back. */
  ourMessageIdDomains: string[];
  /** Name of the loop header we put on everything we send (e.g. "X-Casemail-Loop"). */
  loopHeader: string;
}

// PLACEHOLDER until the automatic-mail work lands.
export function classifyAutomatic(_msg: ParsedMessage, _opts: AutomaticOptions): AutomaticClassification {
  return { kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null };
}
