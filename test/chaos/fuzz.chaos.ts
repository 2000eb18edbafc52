// Chaos part 4, fuzz: 10,000 generated and mutated messages (CHAOS_SHORT: 1,000) from a seeded
// PRNG (CHAOS_SEED reruns one) go through the understanding step `casemail inspect` uses (in
// process, and a sample through the real CLI) and through the real service's SMTP intake.
// Promises: nothing crashes, no message takes 1 s to understand, every accepted message is stored.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { understandMessage } from '../../src/inspect/understand.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { runCli, serviceSettings, smtpUrl } from '../support/service-harness.js';
import { chaosScale, figure } from './figures.js';
import { chaosSeed, createRng } from './fuzz/prng.js';
import { FUZZ_KINDS, fuzzMessage, type FuzzMessage } from './fuzz/messages.js';
import { feedSmtp, smtpNoop, type FeedOutcome } from './fuzz/smtp-feed.js';

const COUNT = chaosScale(10_000, 1_000);
const CLI_SAMPLE = 50;
const BUDGET_MS = 1000;
const SEED = chaosSeed();
const SUPPORT = 'support@casemail.localhost';
/** What a stored inbound message may be: in a case, held with a reason, quarantined with the error, or ignored (automatic mail). */
const STORED = ['processed', 'held', 'quarantined', 'ignored'];

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

describe(`fuzz: ${COUNT} generated and mutated messages, seed ${SEED} (CHAOS_SEED=${SEED} reruns it)`, () => {
  let messages: FuzzMessage[] = [];
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService | null = null;
  const dirs: string[] = [];

  beforeAll(async () => {
    console.log(`fuzz seed ${SEED} (rerun with CHAOS_SEED=${SEED})`);
    const rng = createRng(SEED);
    messages = Array.from({ length: COUNT }, (_, i) => fuzzMessage(rng, i, String(SEED)));
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-fuzz-'));
    dirs.push(dataDir);
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: serviceSettings(dataDir, { imap: { mailboxes: [] }, limits: { maxMessageBytes: 4 * 1024 * 1024 } }),
    });
    service = await startService({ config, logger: silentLogger }, tdb);
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('covers every kind of damage', () => {
    const kinds = new Map<string, number>();
    for (const m of messages) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
    for (const k of FUZZ_KINDS) expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
    figure('fuzz', 'messages generated', `${COUNT} (seed ${SEED})`);
    figure('fuzz', 'largest message bytes', Math.max(...messages.map((m) => m.raw.length)));
  });

  it('understands every message in process without a throw, each within 1 s', () => {
    const times: number[] = [];
    const threw: string[] = [];
    let slowest = { ms: 0, index: -1, kind: '' };
    for (const m of messages) {
      const started = performance.now();
      try {
        understandMessage(m.raw);
      } catch (err) {
        threw.push(`#${m.index} ${m.kind}: ${(err as Error).message}`);
      }
      const ms = performance.now() - started;
      times.push(ms);
      if (ms > slowest.ms) slowest = { ms, index: m.index, kind: m.kind };
    }
    times.sort((a, b) => a - b);
    const max = times[times.length - 1]!;
    figure('fuzz', 'understanding threw', threw.length, '0', threw.length === 0);
    figure('fuzz', 'understanding p99 ms', round(percentile(times, 99)));
    figure('fuzz', 'understanding max ms', `${round(max)} (#${slowest.index} ${slowest.kind})`, `< ${BUDGET_MS}`, max < BUDGET_MS);
    expect(threw).toEqual([]);
    expect(max, `slowest: #${slowest.index} ${slowest.kind}`).toBeLessThan(BUDGET_MS);
  });

  it(`runs a sample of ${CLI_SAMPLE} through the real CLI (casemail inspect --json): one JSON line each, within 1 s`, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-fuzz-cli-'));
    dirs.push(dir);
    // The heavy kinds first (they are where time goes), then an even spread of the rest.
    const heavy = messages.filter((m) => ['huge-header', 'many-recipients', 'deep-nesting'].includes(m.kind)).slice(0, 9);
    const step = Math.max(1, Math.floor(COUNT / (CLI_SAMPLE - heavy.length)));
    const rest = messages.filter((m, i) => i % step === 3 && !heavy.includes(m)).slice(0, CLI_SAMPLE - heavy.length);
    const sample = [...heavy, ...rest];
    const files = sample.map((m) => {
      const file = path.join(dir, `fuzz-${m.index}.eml`);
      writeFileSync(file, m.raw);
      return file;
    });
    const run = await runCli(['inspect', '--json', ...files], {});
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { file: string; elapsedMs: number; parse: unknown });
    expect(lines.map((l) => l.file)).toEqual(files);
    const max = Math.max(...lines.map((l) => l.elapsedMs));
    figure('fuzz', 'CLI inspect sample (lines / files)', `${lines.length} / ${files.length}`, 'all', lines.length === files.length);
    figure('fuzz', 'CLI inspect max ms', round(max), `< ${BUDGET_MS}`, max < BUDGET_MS);
    expect(max).toBeLessThan(BUDGET_MS);
  });

  it('takes every message through the SMTP intake: each accepted one stored (case, held or quarantined), the rest refused clearly, and the intake still answers', async () => {
    const started = performance.now();
    const outcomes: FeedOutcome[] = await feedSmtp(service!.smtp!.port, messages.map((m) => m.raw), () => ({ from: 'bob@acme.example', to: [SUPPORT] }));
    const seconds = (performance.now() - started) / 1000;
    const accepted = outcomes.filter((o) => o.kind === 'accepted');
    const refused = outcomes.filter((o) => o.kind === 'refused');
    const failed = outcomes.map((o, i) => ({ o, i })).filter(({ o }) => o.kind === 'failed');
    const duplicates = accepted.filter((o) => o.status === 'duplicate');
    const fresh = accepted.filter((o) => o.status !== 'duplicate');
    const ids = [...new Set(accepted.map((o) => o.rowId))];
    const rows = ids.length === 0 ? [] : await tdb.db.selectFrom('messages').select(['id', 'status', 'status_reason', 'error', 'case_id'])
      .where('direction', '=', 'inbound').where('id', 'in', ids).execute();
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    const missing = accepted.filter((o) => !byId.has(o.rowId));
    const statusMismatch = fresh.filter((o) => byId.get(o.rowId) && byId.get(o.rowId)!.status !== o.status);
    const unexplained = rows.filter((r) => !STORED.includes(r.status)
      || (r.status === 'processed' && r.case_id === null && r.status_reason === null)
      || (r.status === 'held' && !r.status_reason)
      || (r.status === 'quarantined' && !r.status_reason && !r.error));
    const allInbound = await tdb.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('direction', '=', 'inbound').executeTakeFirstOrThrow();
    const count = (status: string) => rows.filter((r) => r.status === status).length;

    figure('fuzz', 'SMTP accepted', accepted.length);
    figure('fuzz', 'SMTP refused with a 5xx reply', refused.length);
    figure('fuzz', 'SMTP no answer / 4xx after retries', failed.length, '0', failed.length === 0);
    figure('fuzz', 'accepted as duplicates (same content)', duplicates.length);
    figure('fuzz', 'stored: case / held / quarantined / ignored', `${count('processed')} / ${count('held')} / ${count('quarantined')} / ${count('ignored')}`);
    figure('fuzz', 'accepted but not stored', missing.length + statusMismatch.length, '0', missing.length + statusMismatch.length === 0);
    figure('fuzz', 'stored without a reason', unexplained.length, '0', unexplained.length === 0);
    figure('fuzz', 'intake messages per second', Math.round(COUNT / seconds));

    expect(failed.slice(0, 5).map(({ o, i }) => `#${i} ${messages[i]!.kind}: ${o.reply}`)).toEqual([]);
    for (const r of refused) expect(r.reply).toMatch(/^5\d\d /);
    expect(missing).toEqual([]);
    expect(statusMismatch).toEqual([]);
    expect(unexplained).toEqual([]);
    // Nothing stored beyond what was accepted, one row per accepted message.
    expect(Number(allInbound.n)).toBe(ids.length);
    expect(fresh.length).toBe(new Set(fresh.map((o) => o.rowId)).size);

    const noop = await smtpNoop(service!.smtp!.port);
    figure('fuzz', 'intake answers NOOP at the end', noop, '250', /^250 /.test(noop));
    expect(noop).toMatch(/^250 /);
  });
});
