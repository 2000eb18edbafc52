// Hostile message shapes at the size limit (25 MiB by default, BENCH_HOSTILE_MB to change it):
// the time `parseMessageSync` takes on each, and the wall time of the built
// `node bin/casemail.js inspect --json FILE` (a fresh process, startup included). Every shape must
// be understood in under a second. Writes the generated files to a temporary folder, removed after.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMessageSync } from '../src/ingest/parse-message.js';

const CRLF = '\r\n';
const HEAD = ['From: Bob <bob@acme.example>', 'To: support@casemail.localhost', 'Subject: hostile', 'Message-ID: <hostile@acme.example>', 'Date: Mon, 30 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0'].join(CRLF);

/** `unit` repeated until the result reaches `size` bytes (a little over is fine). */
function fill(unit: string, size: number): string {
  return unit.repeat(Math.max(1, Math.ceil(size / unit.length)));
}

function nested(levels: number, size: number, type: (n: number) => string, inner: (n: number) => string): string {
  let open = '';
  let close = '';
  for (let n = 0; n < levels; n++) {
    open += `Content-Type: ${type(n)}${CRLF}${CRLF}${inner(n)}`;
    close = (type(n).startsWith('multipart') ? `${CRLF}--b${n}--${CRLF}` : '') + close;
  }
  return open + 'Content-Type: text/plain' + CRLF + CRLF + fill('deep text line\r\n', size) + close;
}

/** name -> generator of a whole message of about `size` bytes. */
export const HOSTILE_SHAPES: Record<string, (size: number) => string> = {
  'empty MIME parts (--a lines)': (s) => `${HEAD}${CRLF}Content-Type: multipart/mixed; boundary=a${CRLF}${CRLF}${fill('--a\r\n', s)}`,
  'many small parts': (s) => `${HEAD}${CRLF}Content-Type: multipart/mixed; boundary=a${CRLF}${CRLF}${fill('--a\r\nContent-Type: text/plain\r\n\r\nhello\r\n', s)}--a--${CRLF}`,
  'deep multipart nesting (60)': (s) => HEAD + CRLF + nested(60, s, (n) => `multipart/mixed; boundary=b${n}`, (n) => `--b${n}${CRLF}`),
  'deep message/rfc822 nesting (60)': (s) => HEAD + CRLF + nested(60, s, () => 'message/rfc822', () => `From: x${CRLF}`),
  'deep quoted-printable rfc822 (60)': (s) => HEAD + CRLF + nested(60, s, () => 'message/rfc822\r\nContent-Transfer-Encoding: quoted-printable', () => ''),
  'boundary-like line, no newlines': (s) => `${HEAD}${CRLF}Content-Type: multipart/mixed; boundary=a${CRLF}${CRLF}--a${CRLF}${CRLF}${fill('--a--a', s)}`,
  'huge Cc line': (s) => `${HEAD}${CRLF}Cc: ${fill('someone@acme.example, ', s)}${CRLF}${CRLF}hi${CRLF}`,
  'many From mailboxes': (s) => `${HEAD.replace(/^From: .*\r\n/, '')}${CRLF}From: ${fill('"A, B" <a@acme.example>, ', s)}${CRLF}${CRLF}hi${CRLF}`,
  'many From fields': (s) => `${fill('From: a@acme.example\r\n', s)}${HEAD}${CRLF}${CRLF}hi${CRLF}`,
  'many header lines': (s) => `${HEAD}${CRLF}${fill('X-Filler: value\r\n', s)}${CRLF}hi${CRLF}`,
  'one huge folded header': (s) => `${HEAD}${CRLF}X-Long: ${fill('word\r\n ', s)}${CRLF}${CRLF}hi${CRLF}`,
  'huge Subject, encoded words': (s) => `${HEAD.replace('Subject: hostile', `Subject: ${fill('=?utf-8?B?w6TDtsO8?= ', s)}`)}${CRLF}${CRLF}hi${CRLF}`,
  'huge References': (s) => `${HEAD}${CRLF}References: ${fill('<a@b> ', s)}${CRLF}${CRLF}hi${CRLF}`,
  'address comments and quotes': (s) => `${HEAD}${CRLF}To: ${fill('("x" \\) ', s / 2)}${fill('"\\"', s / 2)}${CRLF}${CRLF}hi${CRLF}`,
  'many bare CRs in headers': (s) => `${HEAD}${CRLF}X-Cr: ${fill('a\r', s)}${CRLF}${CRLF}hi${CRLF}`,
  'no header/body separator': (s) => `${HEAD}${CRLF}${fill('not a header line\r\n', s)}`,
  'one line without newline': (s) => `${HEAD}${CRLF}Content-Type: text/plain${CRLF}${CRLF}${fill('word ', s)}`,
  'thousands of begin 644 lines': (s) => `${HEAD}${CRLF}Content-Type: text/plain${CRLF}${CRLF}${fill('begin 644 file.bin\r\nM86)C\r\n', s)}`,
  'unclosed uuencode blocks': (s) => `${HEAD}${CRLF}Content-Type: text/plain${CRLF}${CRLF}${fill('begin 644 f\r\n', s)}end${CRLF}`,
  'quoted-printable soft breaks': (s) => `${HEAD}${CRLF}Content-Type: text/plain${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}${CRLF}${fill('=\r\n', s)}`,
  'base64 padded every quantum': (s) => `${HEAD}${CRLF}Content-Type: application/octet-stream${CRLF}Content-Transfer-Encoding: base64${CRLF}${CRLF}${fill('QQ==', s)}`,
  'many RFC 2231 continuations': (s) => `${HEAD}${CRLF}Content-Type: application/octet-stream;${fill(' name*9*=%41;', s)}${CRLF}${CRLF}x${CRLF}`,
  'HTML of unclosed tags': (s) => `${HEAD}${CRLF}Content-Type: text/html${CRLF}${CRLF}${fill('<blockquote><div><!-- <p', s)}`,
  'quoted reply lines': (s) => `${HEAD}${CRLF}Content-Type: text/plain${CRLF}${CRLF}${fill('> > > quoted\r\n', s)}`,
};

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export async function runHostileBench(log: (line: string) => void, megabytes = Number(process.env.BENCH_HOSTILE_MB ?? 25)): Promise<void> {
  const size = Math.floor(megabytes * 1024 * 1024);
  const only = process.env.BENCH_HOSTILE_SHAPE;
  const dir = mkdtempSync(path.join(tmpdir(), 'casemail-hostile-'));
  const cli = path.join(repoRoot(), 'bin/casemail.js');
  log(`hostile shapes at ${megabytes} MiB: parseMessageSync, and \`node bin/casemail.js inspect --json FILE\` (wall time, process startup included)`);
  log('parse s: parseMessageSync; inspect s: the whole command; of which understood s: its own elapsedMs (read + understand)');
  log(`${'shape'.padEnd(36)} ${'MiB'.padStart(5)} ${'parse s'.padStart(8)} ${'inspect s'.padStart(10)} ${'understood s'.padStart(13)}  status (warnings)`);
  try {
    for (const [name, make] of Object.entries(HOSTILE_SHAPES)) {
      if (only && !name.includes(only)) continue;
      const raw = Buffer.from(make(size), 'latin1').subarray(0, size);
      let t = performance.now();
      const parsed = parseMessageSync(raw);
      const parseSeconds = (performance.now() - t) / 1000;
      const file = path.join(dir, 'shape.eml');
      writeFileSync(file, raw);
      t = performance.now();
      const r = spawnSync(process.execPath, [cli, 'inspect', '--json', file], { maxBuffer: 1 << 30, encoding: 'utf8', timeout: 120_000 });
      const inspectSeconds = (performance.now() - t) / 1000;
      const ok = r.status === 0 && r.stdout.startsWith('{') ? 'ok' : `exit ${String(r.status ?? r.signal)} ${r.stderr.slice(0, 80)}`;
      const self = ok === 'ok' ? ((JSON.parse(r.stdout) as { elapsedMs: number }).elapsedMs / 1000).toFixed(3) : '-';
      const slow = parseSeconds >= 1 || inspectSeconds >= 1 ? ' SLOW' : '';
      const warned = parsed.warnings.map((w) => w.slice(0, 40)).join('; ');
      log(`${name.padEnd(36)} ${(raw.length / 1048576).toFixed(1).padStart(5)} ${parseSeconds.toFixed(3).padStart(8)} ${inspectSeconds.toFixed(3).padStart(10)} ${self.padStart(13)}  ${ok}${slow} (${warned})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
