// Which addresses a bounce may mark as bouncing, and whether automatic mail refers to mail we
// sent on a case. Anybody can write "X-Failed-Recipients: bob@..." and a 550 line; only a
// report about a message we really sent counts, and only for that message's recipients. Pure:
// the caller looks up our outbox rows by the report's Message-IDs or its VERP return path.
import type { BounceInfo } from './automatic.js';

/** An outgoing mail of ours that an incoming report refers to. */
export interface OurMail {
  outboxId: number;
  caseId: number | null;
  /** To and Cc of that mail, lower-cased. */
  recipients: readonly string[];
}

/**
 * The addresses to mark bouncing: the failed recipients the report names that were recipients
 * of the referenced mail of ours. A report that names none, about a mail that went to exactly
 * one address, is about that address.
 */
export function addressesToMarkBouncing(bounce: BounceInfo | null, ours: readonly OurMail[]): string[] {
  if (!bounce?.permanent || ours.length === 0) return [];
  const sentTo = new Set(ours.flatMap((m) => m.recipients.map((r) => r.toLowerCase())));
  const claimed = [...new Set(bounce.recipients.map((r) => r.toLowerCase()))];
  if (claimed.length === 0) return sentTo.size === 1 ? [...sentTo] : [];
  return claimed.filter((r) => sentTo.has(r));
}

/** Does the report refer to a mail we sent on this case? */
export function refersToOurMailOnCase(caseId: number, ours: readonly OurMail[]): boolean {
  return ours.some((m) => m.caseId === caseId);
}
