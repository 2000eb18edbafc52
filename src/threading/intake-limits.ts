// How much work one new request may cause: cases opened from one message, and new cases and
// acknowledgements per sender address per rolling hour. Past a cap the message is still kept
// and a case still opened; what was held back is reported so the operator sees it. Pure: the
// sender's recent activity is counted by the caller from durable state.
import type { SeveritySuggestion } from './severity.js';

export interface IntakeLimits {
  maxCasesPerMessage: number;
  maxNewCasesPerSenderPerHour: number;
  maxAcknowledgementsPerSenderPerHour: number;
}

/** What this sender caused in the hour before now; each count may stop at its cap. */
export interface SenderActivity {
  newCases: number;
  acknowledgements: number;
}

export interface IssuePart {
  title: string;
  text: string;
  /** The understanding step's severity of exactly this text; absent on a part merged here (it is judged anew). */
  severity?: SeveritySuggestion;
}

export type LimitName = keyof IntakeLimits;

export interface LimitHit {
  limit: LimitName;
  value: number;
  /** What was held back, for the operator. */
  detail: string;
}

export interface CasePlan {
  /** One entry per case to open, in order; the last holds any parts beyond the caps. */
  parts: IssuePart[];
  /** Per case in `parts`: send its acknowledgement? */
  acknowledge: boolean[];
  hits: LimitHit[];
}

/**
 * Which cases to open for the issues found in one message. `whole` is the message as one issue
 * (subject and full text), used when only one case may be opened.
 */
export function planNewCases(found: readonly IssuePart[], whole: IssuePart, activity: SenderActivity, limits: IntakeLimits): CasePlan {
  const hits: LimitHit[] = [];
  const issues = found.length > 0 ? found : [whole];
  let count = issues.length;
  if (count > limits.maxCasesPerMessage) {
    hits.push({ limit: 'maxCasesPerMessage', value: limits.maxCasesPerMessage, detail: `${issues.length} issues found, ${limits.maxCasesPerMessage} cases opened; the rest are in the last case` });
    count = limits.maxCasesPerMessage;
  }
  const casesLeft = limits.maxNewCasesPerSenderPerHour - activity.newCases;
  if (count > 1 && count > casesLeft) {
    const allowed = Math.max(1, casesLeft);
    hits.push({ limit: 'maxNewCasesPerSenderPerHour', value: limits.maxNewCasesPerSenderPerHour, detail: `${Math.min(activity.newCases, limits.maxNewCasesPerSenderPerHour)} new cases in the last hour; ${allowed} opened instead of ${count}` });
    count = allowed;
  } else if (casesLeft <= 0) {
    hits.push({ limit: 'maxNewCasesPerSenderPerHour', value: limits.maxNewCasesPerSenderPerHour, detail: `cap of new cases in the last hour reached; one case opened` });
  }
  const parts = count === 1 ? [whole] : [...issues.slice(0, count - 1), mergeParts(issues.slice(count - 1))];
  const acksLeft = Math.max(0, limits.maxAcknowledgementsPerSenderPerHour - activity.acknowledgements);
  const acknowledge = parts.map((_, i) => i < acksLeft);
  if (acksLeft < parts.length) {
    hits.push({
      limit: 'maxAcknowledgementsPerSenderPerHour', value: limits.maxAcknowledgementsPerSenderPerHour,
      detail: `${Math.min(activity.acknowledgements, limits.maxAcknowledgementsPerSenderPerHour)} acknowledgements in the last hour; ${parts.length - acksLeft} not sent`,
    });
  }
  return { parts, acknowledge, hits };
}

function mergeParts(parts: readonly IssuePart[]): IssuePart {
  if (parts.length === 1) return parts[0]!;
  return { title: parts[0]!.title, text: parts.map((p) => p.text).join('\n\n') };
}

/** One line for the message row and the intake result. */
export function describeHits(hits: readonly LimitHit[]): string | null {
  if (hits.length === 0) return null;
  return `limits: ${hits.map((h) => `${h.limit} ${h.value} (${h.detail})`).join('; ')}`;
}
