// The whole message-understanding step behind `casemail inspect`: parse, then the pure threading
// modules (automatic mail, quote stripping, case reference, severity, issue split), and the
// mapping to the inspect-json contract. No I/O; each pure module is guarded so one failing
// module costs its own field, never the line.
import { parseMessageSync } from '../ingest/parse-message.js';
import { classifyAutomatic } from '../threading/automatic.js';
import type { AutomaticClassification } from '../threading/automatic.js';
import { findCaseRef } from '../threading/case-ref.js';
import type { CaseRef } from '../threading/case-ref.js';
import type { ParsedMessage } from '../threading/parsed-message.js';
import { extractReply } from '../threading/reply-text.js';
import type { ReplyText } from '../threading/reply-text.js';
import { suggestSeverity } from '../threading/severity.js';
import type { SeveritySuggestion } from '../threading/severity.js';
import { splitIssues } from '../threading/split-issues.js';
import type { IssuePart } from '../threading/split-issues.js';

export interface Understood {
  parsed: ParsedMessage;
  reply: ReplyText;
  classify: AutomaticClassification;
  caseRef: CaseRef | null;
  severity: SeveritySuggestion;
  issues: IssuePart[];
  /** Failures of individual modules, as { code, message }. */
  errors: Array<{ code: string; message: string }>;
}

const AUTOMATIC_OPTS = { ourMessageIdDomains: [] as string[], loopHeader: 'X-Casemail-Loop' };
const CASE_PREFIXES = ['Case'] as const;

function guard<T>(code: string, errors: Understood['errors'], fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (err) {
    errors.push({ code, message: (err as Error).message ?? String(err) });
    return fallback;
  }
}

export function understandMessage(raw: Buffer): Understood {
  const errors: Understood['errors'] = [];
  const parsed = parseMessageSync(raw);
  // With a real text/plain part the reply is found in it; HTML is handed over only when the text
  // was derived from it, which keeps HTML work off the common path (and the quote structure of
  // HTML-only mail available).
  const replyHtml = parsed.textSource === 'plain' ? null : parsed.html;
  const reply = guard('reply_failed', errors, () => extractReply({ text: parsed.text, html: replyHtml }), { visibleText: parsed.text, removedText: '', signature: null });
  const classify = guard('classify_failed', errors, () => classifyAutomatic(parsed, AUTOMATIC_OPTS), { kind: 'human' as const, automated: false, mailingList: false, reasons: [], bounce: null });
  const caseRef = guard('case_ref_failed', errors, () => findCaseRef(parsed.subject, reply.visibleText, CASE_PREFIXES), null);
  const severity = guard('severity_failed', errors, () => suggestSeverity(parsed.subject, reply.visibleText), { suggested: 3 as const, reasons: ['default'] });
  const issues = guard('split_failed', errors, () => splitIssues(parsed.subject, reply.visibleText), [{ title: parsed.subject, text: reply.visibleText }]);
  return { parsed, reply, classify, caseRef, severity, issues, errors };
}

/** The inspect-json contract fields (without `file` and `elapsedMs`). */
export function toInspectJson(u: Understood): Record<string, unknown> {
  const p = u.parsed;
  return {
    error: u.errors[0] ?? null,
    parse: {
      from: p.from,
      to: p.to,
      cc: p.cc,
      replyTo: p.replyTo,
      subject: p.subject,
      messageId: p.messageId,
      inReplyTo: p.inReplyTo,
      references: p.references,
      date: p.date ? p.date.toISOString() : null,
      text: p.text,
      html: p.html,
      attachments: p.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        size: a.size,
        md5: a.md5,
        contentId: a.contentId,
        inline: a.inline,
        fromTnef: a.fromTnef,
      })),
      tnef: p.tnef,
      contentType: p.contentType,
      warnings: p.warnings,
    },
    reply: u.reply,
    classify: u.classify,
    caseRef: u.caseRef,
    severity: u.severity,
    issues: u.issues,
  };
}
