// Builds ParsedMessage values directly for unit tests of the pure threading modules, so a test
// states only the headers and parts it is about. Header names are lower-cased as the parser does.
import type { ParsedAttachment, ParsedMessage } from '../../src/threading/parsed-message.js';

export interface MessageSpec {
  from?: string | { address: string; name: string } | null;
  subject?: string;
  text?: string;
  messageId?: string | null;
  returnPath?: string | null;
  contentType?: string;
  contentTypeParams?: Record<string, string>;
  headers?: Record<string, string | string[]>;
  attachments?: Array<{ contentType: string; content: string; filename?: string }>;
}

export function buildMessage(spec: MessageSpec = {}): ParsedMessage {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = Array.isArray(v) ? v : [v];
  const from = spec.from === undefined ? { address: 'customer@example.org', name: 'Customer' }
    : typeof spec.from === 'string' ? { address: spec.from.toLowerCase(), name: '' } : spec.from;
  const attachments: ParsedAttachment[] = (spec.attachments ?? []).map((a) => ({
    filename: a.filename ?? null,
    contentType: a.contentType,
    size: Buffer.byteLength(a.content),
    md5: '',
    contentId: null,
    inline: false,
    fromTnef: false,
    content: Buffer.from(a.content),
  }));
  return {
    from,
    to: [{ address: 'support@casemail.example', name: '' }],
    cc: [],
    replyTo: [],
    deliveredTo: [],
    returnPath: spec.returnPath === undefined ? 'customer@example.org' : spec.returnPath,
    subject: spec.subject ?? 'Question',
    messageId: spec.messageId === undefined ? '<m1@example.org>' : spec.messageId,
    inReplyTo: null,
    references: [],
    date: null,
    text: spec.text ?? 'Hello',
    html: null,
    attachments,
    tnef: null,
    contentType: spec.contentType ?? 'text/plain',
    contentTypeParams: spec.contentTypeParams ?? {},
    headers,
    warnings: [],
  };
}
