// The bench's mail, generated here (pure: numbers in, bytes out): 5 KB plain new requests; a
// realistic mix (60% replies to existing cases carrying the case tag and headers, 30% HTML, 10%
// with an attachment of up to 5 MB, 5% automatic mail: out-of-office and delivery reports); and
// plain requests of which 10% list several issues. Also the directory the senders belong to.

export type MixName = 'plain' | 'realistic' | 'multi-issue';

export const MIX_LABEL: Record<MixName, string> = {
  plain: '5 KB plain new requests',
  realistic: 'realistic mix (60% replies, 30% HTML, 10% attachments ≤ 5 MB, 5% automatic)',
  'multi-issue': '5 KB new requests, 10% multi-issue',
};

/** Requests come from this many contacts: one address sending thousands an hour is the throttled flood path, not the one to measure. */
export const SENDERS = 100;
export const SUPPORT = 'support@casemail.localhost';

/** What a reply needs to know about the case it answers. */
export interface CaseRef {
  number: number;
  /** The request's Message-ID and the acknowledgement's (In-Reply-To), angle brackets included. */
  requestId: string;
  ackId: string | null;
  sender: number;
}

export function benchDirectory() {
  return {
    organisations: [{ key: 'acme', name: 'Acme', timeZone: 'Europe/Berlin' }],
    contracts: [{ organisation: 'acme', product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31' }],
    contacts: Array.from({ length: SENDERS }, (_, i) => ({ organisation: 'acme', address: `contact${i}@acme.example`, name: `Contact ${i}`, role: 'contact' as const, active: true })),
    engineers: [{ address: 'erin@vendor.example', name: 'Erin', team: 'core', role: 'engineer' as const, active: true }],
  };
}

/** Volume from few senders is what the bench measures, not the per-sender caps (issue 11). */
export const VOLUME_LIMITS = { maxNewCasesPerSenderPerHour: 1_000_000, maxAcknowledgementsPerSenderPerHour: 1_000_000, maxAutomaticMailPerAddressPerHour: 1_000_000 };

const CRLF = '\r\n';

function head(lines: string[]): string {
  return [...lines, 'Date: Mon, 30 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0'].join(CRLF);
}

function plainBody(i: number, bytes = 5000): string {
  const para = `Our nightly export job number ${i} stops with error E42 after about ten minutes; restarting the worker does not help.`;
  const lines: string[] = [];
  for (let n = 0; n < bytes; n += para.length + 2) lines.push(para);
  return lines.join(CRLF);
}

export function messageId(tag: string, stamp: number, i: number): string {
  return `<${tag}-${stamp}-${i}@acme.example>`;
}

/** A 5 KB plain-text new request from contact i % SENDERS. */
export function plainRequest(i: number, stamp: number, tag = 'req'): Buffer {
  const s = i % SENDERS;
  return Buffer.from(head([`From: Contact ${s} <contact${s}@acme.example>`, `To: ${SUPPORT}`, `Subject: Export problem ${tag} ${i}`,
    `Message-ID: ${messageId(tag, stamp, i)}`, 'Content-Type: text/plain; charset=utf-8']) + CRLF + CRLF + plainBody(i) + CRLF);
}

function multiIssueRequest(i: number, stamp: number): Buffer {
  const s = i % SENDERS;
  const body = [
    'Hi team,', '',
    `1) The nightly backup job ${i} stops at 80 % and leaves the database locked until somebody restarts the service.`,
    '2) Scheduled emails are sent twice to every recipient since Monday, which confuses our customers a lot.',
    '3) The audit log is empty for all events after the first of March although auditing is switched on.', '',
    'Regards,', `Contact ${s}`,
  ].join(CRLF);
  return Buffer.from(head([`From: Contact ${s} <contact${s}@acme.example>`, `To: ${SUPPORT}`, `Subject: Three problems ${i}`,
    `Message-ID: ${messageId('multi', stamp, i)}`, 'Content-Type: text/plain; charset=utf-8']) + CRLF + CRLF + body + CRLF);
}

function htmlOf(text: string): string {
  return `<html><head><style>p{margin:0}</style></head><body><div>${text.split(CRLF).map((l) => `<p style="font-family:Calibri">${l}</p>`).join('\n')}</div></body></html>`;
}

function base64Lines(bytes: number, seed: number): string {
  const data = Buffer.alloc(bytes);
  for (let k = 0; k < bytes; k++) data[k] = ((k + seed) * 2654435761) >>> 24;
  return data.toString('base64').replace(/.{76}/g, `$&${CRLF}`);
}

/** In the realistic mix: which kind message i is. Replies take 60%; HTML, attachments and automatic mail are spread over the rest and the replies. */
export function realisticKind(i: number): { automatic: 'ooo' | 'dsn' | null; reply: boolean; html: boolean; attachment: number } {
  const automatic = i % 20 === 19 ? (i % 40 === 19 ? 'ooo' : 'dsn') : null;
  const reply = automatic === null && i % 5 < 3;
  const html = automatic === null && [1, 4, 7].includes(i % 10);
  // 10% carry an attachment: one in ten of those is 5 MB, the rest 100 KB.
  const attachment = automatic === null && i % 10 === 8 ? (i % 100 === 8 ? 5 * 1024 * 1024 : 100 * 1024) : 0;
  return { automatic, reply, html, attachment };
}

/** How many existing cases the realistic mix of n messages replies to. */
export function repliesIn(n: number): number {
  let r = 0;
  for (let i = 0; i < n; i++) if (realisticKind(i).reply) r++;
  return r;
}

function realisticMessage(i: number, stamp: number, ref: CaseRef | null): Buffer {
  const k = realisticKind(i);
  const s = ref?.sender ?? i % SENDERS;
  const from = `From: Contact ${s} <contact${s}@acme.example>`;
  const id = `Message-ID: ${messageId('mix', stamp, i)}`;
  if (k.automatic === 'ooo') {
    return Buffer.from(head([from, `To: ${SUPPORT}`, 'Subject: Automatic reply: Export problem', id, 'Auto-Submitted: auto-replied', 'X-Autoreply: yes',
      'Content-Type: text/plain; charset=utf-8']) + CRLF + CRLF + 'I am out of the office until Monday and will read your mail then.' + CRLF);
  }
  if (k.automatic === 'dsn') {
    const b = `dsn${i}`;
    return Buffer.from(head(['From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>', `To: ${SUPPORT}`, 'Subject: Undelivered Mail Returned to Sender', id,
      'Auto-Submitted: auto-replied', `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`]) + CRLF + CRLF + [
      `--${b}`, 'Content-Type: text/plain', '', 'This is the mail system. Your message could not be delivered to gone@acme.example.', '',
      `--${b}`, 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.acme.example', '', 'Final-Recipient: rfc822; gone@acme.example',
      'Action: failed', 'Status: 5.1.1', 'Diagnostic-Code: smtp; 550 5.1.1 user unknown', '',
      `--${b}`, 'Content-Type: text/rfc822-headers', '', `From: ${SUPPORT}`, 'To: gone@acme.example', `Message-ID: <gone-${stamp}-${i}@casemail.localhost>`, 'Subject: hello', '',
      `--${b}--`, ''].join(CRLF));
  }
  const subject = ref ? `Subject: Re: Export problem [Case #${ref.number}]` : `Subject: Export problem mix ${i}`;
  const threading = ref ? [`In-Reply-To: ${ref.ackId ?? ref.requestId}`, `References: ${ref.requestId}${ref.ackId ? ` ${ref.ackId}` : ''}`] : [];
  const text = ref
    ? ['Thanks, we tried that and it still fails after ten minutes; the log is below.', '', `> ${plainBody(i, 600).split(CRLF).join(`${CRLF}> `)}`].join(CRLF)
    : plainBody(i, k.attachment ? 1500 : 5000);
  const textPart = ['Content-Type: text/plain; charset=utf-8', '', text];
  const bodyPart = k.html
    ? ['Content-Type: multipart/alternative; boundary="alt"', '', '--alt', ...textPart, '--alt', 'Content-Type: text/html; charset=utf-8', '', htmlOf(text), '--alt--']
    : textPart;
  if (!k.attachment) return Buffer.from(head([from, `To: ${SUPPORT}`, subject, id, ...threading]) + CRLF + bodyPart.join(CRLF) + CRLF);
  return Buffer.from(head([from, `To: ${SUPPORT}`, subject, id, ...threading, 'Content-Type: multipart/mixed; boundary="mix"']) + CRLF + CRLF + [
    '--mix', ...bodyPart, '--mix', 'Content-Type: application/octet-stream; name="export.log.gz"', 'Content-Disposition: attachment; filename="export.log.gz"',
    'Content-Transfer-Encoding: base64', '', base64Lines(k.attachment, i), '--mix--', ''].join(CRLF));
}

/**
 * The n messages of a mix. The realistic mix's replies take the cases of `refs` in turn (the
 * seed requests committed before the timed run); without refs they name made-up cases (parse-only).
 */
export function mixMessages(mix: MixName, n: number, stamp: number, refs: readonly CaseRef[] = []): Buffer[] {
  if (mix === 'plain') return Array.from({ length: n }, (_, i) => plainRequest(i, stamp));
  if (mix === 'multi-issue') return Array.from({ length: n }, (_, i) => (i % 10 === 0 ? multiIssueRequest(i, stamp) : plainRequest(i, stamp)));
  let r = 0;
  return Array.from({ length: n }, (_, i) => {
    if (!realisticKind(i).reply) return realisticMessage(i, stamp, null);
    const ref = refs.length ? refs[r++ % refs.length]! : { number: 100000 + i, requestId: messageId('seed', stamp, i), ackId: null, sender: i % SENDERS };
    return realisticMessage(i, stamp, ref);
  });
}
