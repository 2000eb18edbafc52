// `casemail inspect` and the intake understand every fixture alike: for each .eml under
// test/fixtures, inspect's JSON (the function run-inspect prints) is compared with what the real
// MessageHandler stored on a real database — kind, classification, visible text and, for a new
// request, the cases opened and their severities. The pool's threads give the in-process result.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { importDirectory } from '../../src/directory/directory-store.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { UnderstandPool } from '../../src/ingest/understand-pool.js';
import { understandRawSync } from '../../src/ingest/understand-raw.js';
import { inspectJson } from '../../src/inspect/understand.js';
import { DEFAULT_INSPECT_OPTIONS } from '../../src/inspect/inspect-options.js';
import { silentLogger } from '../../src/log/logger.js';
import { pgSafeDeep } from '../../src/threading/pg-text.js';
import { understandingOptions } from '../../src/threading/understanding.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';

const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));

function emlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return emlFiles(p);
    return e.name.endsWith('.eml') ? [p] : [];
  }).sort();
}

const files = emlFiles(fixturesDir);
const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: ['support@casemail.localhost'] };
const START = Date.parse('2026-11-30T09:00:00Z');
/** Each fixture a day apart: no per-sender hourly cap decides how many cases one opens. */
const dayOf = (i: number): Date => new Date(START + i * 86_400_000);

interface InspectLine {
  error: { code: string; message: string } | null;
  parse: { from: { address: string } | null };
  reply: { visibleText: string };
  classify: Record<string, unknown> & { kind: string };
  issues: Array<{ severity: { suggested: number } }>;
}

describe(`inspect and the intake agree on every fixture (${databaseKind()})`, () => {
  const settings = loadConfig({ env: {} }).settings;
  let tdb: TestDatabase;
  let handler: MessageHandler;
  /** Fixtures that opened cases: the case comparison must have run on some. */
  let newRequests = 0;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    // Every fixture's sender an entitled contact, so a new request opens cases instead of being held.
    const senders = new Set<string>();
    for (const file of files) {
      try {
        const from = (inspectJson(readFileSync(file)) as unknown as InspectLine).parse.from?.address.toLowerCase();
        if (from) senders.add(from);
      } catch {
        // Unparseable: the intake quarantines it; no sender to import.
      }
    }
    for (const address of senders) {
      // One at a time: an address the directory refuses costs only that sender.
      await importDirectory(tdb.db, { organisations: [], contracts: [], engineers: [], contacts: [{ organisation: 'acme', address, name: '', role: 'contact', active: true }] });
    }
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => dayOf(0) });
  });
  afterAll(async () => tdb?.close());

  it('finds the fixtures', () => {
    expect(files.length).toBeGreaterThan(10);
    // inspect without a configuration runs with what these default settings give.
    expect(DEFAULT_INSPECT_OPTIONS.understanding).toEqual(understandingOptions(settings));
  });

  it.each(files.map((f, i) => [path.relative(fixturesDir, f), f, i] as const))('%s', async (_name, file, i) => {
    const raw = readFileSync(file);
    // What is stored went through pgSafeDeep; inspect prints it unsanitised.
    const expected = pgSafeDeep(inspectJson(raw)) as unknown as InspectLine;
    const result = await handler.handleAt(raw, smtp, dayOf(i));
    expect(result.status).not.toBe('quarantined');
    const row = await tdb.db.selectFrom('messages').select(['id', 'kind', 'classification', 'visible_text'])
      .where('id', '=', Number(result.messageId)).executeTakeFirstOrThrow();
    expect(row.kind).toBe(expected.classify.kind);
    expect(row.classification).toEqual(expected.classify);
    expect(row.visible_text).toBe(expected.reply.visibleText);

    const opened = await tdb.db.selectFrom('case_events').innerJoin('cases', 'cases.id', 'case_events.case_id')
      .select(['cases.number', 'cases.severity']).where('case_events.kind', '=', 'case_opened')
      .where('case_events.message_id', '=', row.id).orderBy('cases.number').execute();
    if (opened.length === 0) return; // not a new request: the split is not used
    newRequests += 1;
    const cap = settings.limits.maxCasesPerMessage;
    const issues = expected.issues;
    expect(opened).toHaveLength(Math.min(issues.length, cap));
    // Past the cap the last case holds the rest merged; its severity is its own.
    const compared = issues.length > cap ? cap - 1 : issues.length;
    expect(opened.slice(0, compared).map((c) => c.severity)).toEqual(issues.slice(0, compared).map((p) => p.severity.suggested));
  });

  it('compared cases on new requests', () => {
    expect(newRequests).toBeGreaterThan(5);
  });
});

describe('the pool understands as the process does', () => {
  let pool: UnderstandPool;
  const opts = DEFAULT_INSPECT_OPTIONS;
  beforeAll(() => {
    pool = new UnderstandPool({ timeoutMs: 10_000, workers: 2, parseOptions: opts.parse, understanding: opts.understanding });
  });
  afterAll(async () => pool?.close());

  it('gives the same Understanding for every fixture, Dates and Buffers included', async () => {
    for (const file of files) {
      const raw = readFileSync(file);
      const local = understandRawSync(raw, opts.understanding, opts.parse);
      const threaded = await pool.understand(raw);
      expect(threaded, file).toEqual(local);
      if (local.parsed.date) expect(threaded.parsed.date, file).toBeInstanceOf(Date);
      for (const a of threaded.parsed.attachments) expect(Buffer.isBuffer(a.content), file).toBe(true);
    }
  });

  it('still parses, and refuses to understand without options', async () => {
    const raw = readFileSync(files[0]!);
    expect(await pool.parse(raw)).toEqual(understandRawSync(raw, opts.understanding, opts.parse).parsed);
    const bare = new UnderstandPool({ timeoutMs: 10_000, workers: 1 });
    try {
      await expect(bare.understand(raw)).rejects.toThrow(/without understanding options/);
    } finally {
      await bare.close();
    }
  });
});
