// casemail's parse against mailparser's simpleParser (the library the design named), field by
// field on every shared corpus, printed as a table. Reads the corpora at run time (their
// expected.json and comparison rules in ops.mjs; nothing is copied into the project) from
// ../shared/corpora beside the checkout, or CASEMAIL_CORPORA / the first argument.
// Inputs are built the way score.mjs builds them; only parse fields are compared.
//   npm run compare-parsers [-- DIR] [--strict]   (--strict: exit 1 when casemail is below)
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { inspectJson } from '../src/inspect/understand.js';

type Check = { field: string; op: string; value: unknown; soft?: boolean };
type Case = { id: string; file: string | string[]; input: string; task: string; checks: Check[]; inputSender?: string; inputReplace?: Record<string, string> };
type Ops = Record<string, (expected: unknown, actual: unknown, check: Check) => unknown>;
type Out = { parse: Record<string, unknown> };

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, existsSync(path.join(here, '../package.json')) ? '..' : '../..');
const args = process.argv.slice(2);
const strict = args.includes('--strict');
const corporaRoot = path.resolve(args.find((a) => !a.startsWith('--')) ?? process.env.CASEMAIL_CORPORA ?? path.join(repoRoot, '../shared/corpora'));

// ---- inputs, as score.mjs builds them ----
const CRLF = '\r\n';
const b64lines = (b: Buffer): string => b.toString('base64').replace(/.{76}/g, '$&' + CRLF);
function wrapBody(kase: Case, body: string, type: string): Buffer {
  const from = kase.inputSender ? `<${kase.inputSender}>` : 'Sender <sender@example.org>';
  return Buffer.from([
    `From: ${from}`, 'To: support@example.test', 'Subject: Re: question',
    `Message-ID: <${kase.id.replace(/[^A-Za-z0-9.-]/g, '.')}@corpus.example>`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000', 'MIME-Version: 1.0',
    `Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: base64',
  ].join(CRLF) + CRLF + CRLF + b64lines(Buffer.from(body, 'utf8')) + CRLF);
}
function wrapTnef(kase: Case, bytes: Buffer): Buffer {
  const boundary = 'corpus-boundary-7f3a';
  return Buffer.from([
    'From: Sender <sender@example.org>', 'To: support@example.test', 'Subject: tnef',
    `Message-ID: <${kase.id.replace(/[^A-Za-z0-9.-]/g, '.')}@corpus.example>`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000', 'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`, '',
    `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', 'See attachment.', '',
    `--${boundary}`, 'Content-Type: application/ms-tnef; name="winmail.dat"',
    'Content-Disposition: attachment; filename="winmail.dat"', 'Content-Transfer-Encoding: base64', '',
    b64lines(bytes), `--${boundary}--`, '',
  ].join(CRLF));
}
function replaced(kase: Case, text: string): string {
  for (const [from, to] of Object.entries(kase.inputReplace ?? {})) text = text.split(from).join(to);
  return text;
}
function buildInput(dir: string, kase: Case): Buffer | null {
  const file = path.join(dir, Array.isArray(kase.file) ? kase.file[0]! : kase.file);
  switch (kase.input) {
    case 'rfc822': return readFileSync(file);
    case 'text': return wrapBody(kase, replaced(kase, readFileSync(file, 'utf8')), 'text/plain');
    case 'html': return wrapBody(kase, replaced(kase, readFileSync(file, 'utf8')), 'text/html');
    case 'tnef': return wrapTnef(kase, readFileSync(file));
    default: return null;
  }
}

// ---- the parse fields, as score.mjs maps them ----
const addrs = (l: unknown): string[] => ((l as Array<{ address?: string }> | null) ?? []).map((x) => x?.address ?? '').filter(Boolean);
type Att = { filename: string | null; md5: string; contentId: string | null; inline: boolean; fromTnef: boolean; size: number };
function field(out: Out, name: string): unknown {
  const p = out.parse;
  const all = (p.attachments as Att[] | undefined) ?? [];
  const att = all.filter((a) => !a.fromTnef);
  const tnefAtt = all.filter((a) => a.fromTnef);
  const from = p.from as { address?: string; name?: string } | null;
  switch (name) {
    case 'from.address': return from?.address ?? null;
    case 'from.name': return from?.name ?? null;
    case 'to.addresses': return addrs(p.to);
    case 'cc.addresses': return addrs(p.cc);
    case 'replyTo.addresses': return addrs(p.replyTo);
    case 'subject': return p.subject ?? null;
    case 'messageId': return p.messageId ?? null;
    case 'date': return p.date ?? null;
    case 'body.text': return p.text ?? null;
    case 'body.html': return p.html ?? null;
    case 'body.preferredType': return p.html ? 'text/html' : 'text/plain';
    case 'attachments.filename': return att.map((a) => a.filename);
    case 'attachments.md5': return att.map((a) => a.md5);
    case 'attachments.contentId': return att.map((a) => a.contentId);
    case 'attachments.count': return att.filter((a) => !a.inline).length;
    case 'tnef.attachments.filename': return tnefAtt.map((a) => a.filename);
    case 'tnef.attachments.md5': return tnefAtt.map((a) => a.md5);
    case 'tnef.attachments.size': return tnefAtt.map((a) => a.size);
    case 'tnef.bodyType': return (p.tnef as { bodyType?: string } | null)?.bodyType ?? null;
    default: return undefined; // not a parse field: not compared
  }
}

// ---- simpleParser's result in the inspect shape ----
function firstMailbox(a: AddressObject | AddressObject[] | undefined): { address: string; name: string } | null {
  const v = (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value);
  return v[0] ? { address: v[0].address ?? '', name: v[0].name ?? '' } : null;
}
function mailboxes(a: AddressObject | AddressObject[] | undefined): Array<{ address: string; name: string }> {
  const flat = (list: ParsedMail['to'] extends infer T ? T : never): Array<{ address?: string; name: string; group?: Array<{ address?: string; name: string }> }> =>
    (Array.isArray(list) ? list : list ? [list] : []).flatMap((x) => x.value);
  return flat(a).flatMap((m) => (m.group ? m.group : [m])).map((m) => ({ address: m.address ?? '', name: m.name }));
}
async function viaSimpleParser(raw: Buffer): Promise<Out> {
  const m = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true });
  return {
    parse: {
      from: firstMailbox(m.from),
      to: mailboxes(m.to),
      cc: mailboxes(m.cc),
      replyTo: mailboxes(m.replyTo),
      subject: m.subject ?? '',
      messageId: m.messageId ?? null,
      date: m.date && !Number.isNaN(m.date.getTime()) ? m.date.toISOString() : null,
      text: m.text ?? '',
      html: typeof m.html === 'string' ? m.html : null,
      attachments: m.attachments.map((a) => ({
        filename: a.filename ?? null, md5: createHash('md5').update(a.content).digest('hex'), contentId: a.contentId ?? null,
        inline: a.contentDisposition === 'inline', fromTnef: false, size: a.size,
      })),
      tnef: null,
    },
  };
}

function corpusDirs(d: string): string[] {
  if (existsSync(path.join(d, 'expected.json'))) return [d];
  return readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => corpusDirs(path.join(d, e.name)));
}

async function main(): Promise<void> {
  if (!existsSync(path.join(corporaRoot, 'ops.mjs'))) {
    console.error(`no corpora at ${corporaRoot} (give a folder, or set CASEMAIL_CORPORA)`);
    process.exit(2);
  }
  const { OPS } = (await import(pathToFileURL(path.join(corporaRoot, 'ops.mjs')).href)) as { OPS: Ops };
  const passes = (c: Check, out: Out): boolean => {
    try {
      return Boolean(OPS[c.op]!(c.value, field(out, c.field), c));
    } catch {
      return false;
    }
  };
  type Cell = { cases: number; casemail: number; simple: number };
  const rows: Array<{ corpus: string; field: string } & Cell> = [];
  const below: string[] = [];
  const skipped: string[] = [];
  for (const dir of corpusDirs(corporaRoot)) {
    const corpus = path.basename(dir);
    const cases = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Case[];
    const cells = new Map<string, Cell>();
    const caseTotal: Cell = { cases: 0, casemail: 0, simple: 0 };
    for (const kase of cases) {
      const checks = kase.checks.filter((c) => !c.soft && field({ parse: {} }, c.field) !== undefined);
      if (checks.length === 0) continue;
      const raw = buildInput(dir, kase);
      if (!raw) continue;
      const ours = inspectJson(raw) as unknown as Out;
      let theirs: Out;
      try {
        theirs = await viaSimpleParser(raw);
      } catch {
        theirs = { parse: {} };
      }
      let allOurs = true;
      let allTheirs = true;
      // A field is scored once per case: every check on it must pass.
      for (const name of new Set(checks.map((c) => c.field))) {
        const on = checks.filter((c) => c.field === name);
        const a = on.every((c) => passes(c, ours));
        const b = on.every((c) => passes(c, theirs));
        const cell = cells.get(name) ?? { cases: 0, casemail: 0, simple: 0 };
        cell.cases++;
        if (a) cell.casemail++;
        if (b) cell.simple++;
        cells.set(name, cell);
        allOurs &&= a;
        allTheirs &&= b;
        if (!a && b) below.push(`${kase.id}: ${name}`);
      }
      caseTotal.cases++;
      if (allOurs) caseTotal.casemail++;
      if (allTheirs) caseTotal.simple++;
    }
    if (caseTotal.cases === 0) {
      skipped.push(corpus);
      continue;
    }
    for (const [name, cell] of [...cells].sort(([a], [b]) => a.localeCompare(b))) rows.push({ corpus, field: name, ...cell });
    rows.push({ corpus, field: '(whole cases, parse fields)', ...caseTotal });
  }
  const w = [Math.max(6, ...rows.map((r) => r.corpus.length)), Math.max(5, ...rows.map((r) => r.field.length))];
  const pct = (n: number, d: number): string => `${n}/${d}`.padStart(8) + ` ${((100 * n) / d).toFixed(1).padStart(5)}%`;
  console.log(`${'corpus'.padEnd(w[0]!)}  ${'field'.padEnd(w[1]!)}  ${'casemail'.padStart(15)}  ${'simpleParser'.padStart(15)}`);
  for (const r of rows) {
    const mark = r.casemail < r.simple ? '  <-- below' : '';
    console.log(`${r.corpus.padEnd(w[0]!)}  ${r.field.padEnd(w[1]!)}  ${pct(r.casemail, r.cases)}  ${pct(r.simple, r.cases)}${mark}`);
  }
  if (skipped.length) console.log(`(no parse fields to compare in: ${skipped.join(', ')})`);
  if (below.length) {
    console.log(`\nCases where simpleParser passes a field and casemail does not (${below.length}):`);
    for (const b of below) console.log(`  ${b}`);
  }
  const worse = rows.filter((r) => r.casemail < r.simple);
  console.log(worse.length === 0 ? '\ncasemail is at or above simpleParser on every corpus and field.' : `\ncasemail is below simpleParser on ${worse.length} corpus/field cells.`);
  if (strict && worse.length) process.exit(1);
}

await main();
