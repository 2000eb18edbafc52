// Builds raw RFC 5322 test messages in code (so every scenario says what it sends).
export interface TestMail {
  from?: string;
  to?: string;
  cc?: string;
  subject?: string;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string;
  date?: string;
  body?: string;
  headers?: Record<string, string>;
}

let counter = 0;

export function buildMail(m: TestMail = {}): Buffer {
  const id = m.messageId === undefined ? `<t${++counter}.${process.pid}.${Math.random().toString(36).slice(2)}@customer.example>` : m.messageId;
  const lines = [
    `From: ${m.from ?? 'Bob Builder <bob@acme.example>'}`,
    `To: ${m.to ?? 'support@casemail.localhost'}`,
    ...(m.cc ? [`Cc: ${m.cc}`] : []),
    `Subject: ${m.subject ?? 'Export fails'}`,
    ...(id ? [`Message-ID: ${id}`] : []),
    ...(m.inReplyTo ? [`In-Reply-To: ${m.inReplyTo}`] : []),
    ...(m.references ? [`References: ${m.references}`] : []),
    `Date: ${m.date ?? 'Sat, 28 Nov 2026 12:00:00 +0000'}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    ...Object.entries(m.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${(m.body ?? 'The nightly export stops with error E42.\nVersion 4.2.\n').replace(/\r?\n/g, '\r\n')}`);
}

/** A ~5 KB plain-text new request. */
export function buildRequest(i: number, extra: TestMail = {}): Buffer {
  const para = `Our nightly export job number ${i} stops with error E42 after about ten minutes. `;
  return buildMail({ subject: `Export problem ${i}`, body: para.repeat(Math.ceil(5000 / para.length)), ...extra });
}
