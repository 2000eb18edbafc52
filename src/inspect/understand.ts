// The mapping from the shared understanding (src/threading/understanding.ts, the same step the
// intake runs) to the inspect-json contract (spec/inspect-json.md). No I/O; parsing and
// understanding are understandRawSync's, with the options inspect-options.ts found.
import { understandRawSync } from '../ingest/understand-raw.js';
import type { Understanding } from '../threading/understanding.js';
import { DEFAULT_INSPECT_OPTIONS, type InspectOptions } from './inspect-options.js';

/** Parse + understand one raw message as the intake would with these options. */
export function understandMessage(raw: Buffer, opts: InspectOptions = DEFAULT_INSPECT_OPTIONS): Understanding {
  return understandRawSync(raw, opts.understanding, opts.parse);
}

/** The inspect-json contract fields (without `file` and `elapsedMs`). */
export function toInspectJson(u: Understanding): Record<string, unknown> {
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
    // Each part's own severity is an extra field; the contract's title and text come first.
    issues: u.issues.map((i) => ({ title: i.title, text: i.text, severity: i.severity })),
  };
}

/** The contract's line for one message, as run-inspect prints it and the agreement test compares it. */
export function inspectJson(raw: Buffer, opts: InspectOptions = DEFAULT_INSPECT_OPTIONS): Record<string, unknown> {
  return toInspectJson(understandMessage(raw, opts));
}
