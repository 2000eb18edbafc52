// Throughput of the whole understanding step (parse + classify + quote strip + case ref +
// severity + split, as `casemail inspect` runs it) next to mailparser's simpleParser alone, on
// messages generated here: 5 KB plain text, 50 KB HTML with and without a text part, 5 MB attachment.
import { simpleParser } from 'mailparser';
import { understandMessage } from '../src/inspect/understand.js';

const CRLF = '\r\n';

function wrap(lines: string[]): string {
  return lines.map((l) => l.replace(/.{1,76}(\s|$)/g, '$&' + CRLF).trimEnd()).join(CRLF);
}

function paragraph(i: number): string {
  return `Paragraph ${i}: the export job fails after the upgrade to 4.2 with error E1234 when the queue holds more than ten thousand items; restarting the worker does not help and the log shows a timeout.`;
}

function headers(subject: string, contentType: string): string {
  return [
    'From: "Customer, Some" <customer@example.com>',
    'To: support@example.test',
    `Subject: ${subject}`,
    'Message-ID: <bench-1@example.com>',
    'Date: Mon, 2 Mar 2026 09:15:00 +0100',
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
  ].join(CRLF);
}

function plainMail(): Buffer {
  const body: string[] = ['Hello support,', ''];
  for (let i = 0; body.join('\n').length < 5000; i++) body.push(paragraph(i), '');
  body.push('-- ', 'Some Customer');
  return Buffer.from(headers('Export fails after upgrade', 'text/plain; charset=utf-8') + CRLF + CRLF + wrap(body) + CRLF);
}

function htmlBody(): string {
  let html = '<html><head><style>p{margin:0}</style></head><body><div>';
  for (let i = 0; html.length < 50_000; i++) html += `<p style="font-family:Calibri">${paragraph(i)} <b>bold</b> &amp; <a href="https://example.com/${i}">link</a></p>\n`;
  return html + '</div></body></html>';
}

function htmlMail(withText: boolean): Buffer {
  const html = htmlBody();
  if (!withText) return Buffer.from(headers('HTML only', 'text/html; charset=utf-8') + CRLF + CRLF + html + CRLF);
  const text: string[] = [];
  for (let i = 0; text.join('\n').length < 20_000; i++) text.push(paragraph(i), '');
  return Buffer.from([
    headers('HTML with text', 'multipart/alternative; boundary="alt"'), '',
    '--alt', 'Content-Type: text/plain; charset=utf-8', '', wrap(text),
    '--alt', 'Content-Type: text/html; charset=utf-8', '', html,
    '--alt--', '',
  ].join(CRLF));
}

function attachmentMail(): Buffer {
  const data = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const b64 = data.toString('base64').replace(/.{76}/g, '$&' + CRLF);
  return Buffer.from([
    headers('Logs attached', 'multipart/mixed; boundary="mix"'), '',
    '--mix', 'Content-Type: text/plain; charset=utf-8', '', 'The logs are attached.',
    '--mix', 'Content-Type: application/zip; name="logs.zip"', 'Content-Disposition: attachment; filename="logs.zip"', 'Content-Transfer-Encoding: base64', '', b64,
    '--mix--', '',
  ].join(CRLF));
}

/** Runs `fn` repeatedly for about `ms` and returns calls per second. */
async function rate(fn: () => unknown, ms: number): Promise<number> {
  await fn(); // warm-up
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

export async function runUnderstandingBench(log: (line: string) => void): Promise<void> {
  const cases: Array<[string, Buffer]> = [
    ['5 KB plain text', plainMail()],
    ['50 KB HTML + text alternative', htmlMail(true)],
    ['50 KB HTML only', htmlMail(false)],
    ['5 MB attachment', attachmentMail()],
  ];
  log('message                          casemail msg/s   simpleParser msg/s   ratio');
  for (const [name, raw] of cases) {
    const budget = raw.length > 1_000_000 ? 3000 : 1500;
    const ours = await rate(() => understandMessage(raw), budget);
    const theirs = await rate(() => simpleParser(raw), budget);
    log(`${name.padEnd(32)} ${ours.toFixed(1).padStart(14)} ${theirs.toFixed(1).padStart(20)} ${(ours / theirs).toFixed(2).padStart(7)}x`);
  }
}
