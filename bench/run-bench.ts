// `npm run bench`: every figure of issue 13 in one run, printed as one table and written as JSON
// under bench/results/ (<ISO time>.json and latest.json). Parts, in order:
//   limits  parse-only rates, bare PostgreSQL transactions, Dovecot bulk fetch, SMTP sink acceptance
//   intake  Dovecot → IMAP intake → database for three mixes, on PostgreSQL and the embedded server
//   service the real service as children: SMTP intake, delivery, latency, memory, 1–3 instances
//   delivery  the outbox dispatcher alone: acknowledgements per second to the sink, statements per mail
//   scale   threading lookup, case list and stats at 1,000,000 messages / 100,000 cases
//   sweep   the timer sweep at 1,000,000 cases
//   understand, hostile  the understanding step's own figures (detail lines, no rows)
// BENCH_ONLY=part,part runs only those; BENCH_SCALE=0.1 shrinks the counts for a quick look.
// A part that fails gives rows without values (met = no) and the run goes on; whatever a part
// started (databases, folders, children, servers) is removed also on failure or interrupt.
import path from 'node:path';
import { runUnderstandingBench } from './understand-bench.js';
import { runHostileBench } from './hostile-bench.js';
import { runSweepBench } from './sweep-bench.js';
import { runIntake } from './intake-bench.js';
import { describeCpuShare } from './cpu-share.js';
import { dovecotFetchRate, parseRates, postgresTransactionRate, sinkAcceptanceRate } from './limits-bench.js';
import { runServiceBench } from './service-bench.js';
import { runDeliveryOnce } from './delivery-bench.js';
import { runScaleBench } from './scale-bench.js';
import { startServer, type DatabaseKind } from './bench-db.js';
import { cleanupAll } from './cleanup.js';
import { repoRoot } from './dovecot.js';
import { MIX_LABEL, type MixName } from './mail-mixes.js';
import { formatTable, withMet, writeResults, type AddRow, type Row } from './table.js';

const log = (line: string) => process.stdout.write(line + '\n');
const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const wanted = (part: string): boolean => only.length === 0 || only.includes(part);
/** The entries of `all` that the comma-separated variable `name` lists; all of them when it is unset. */
function listed<T extends string>(name: string, all: readonly T[]): readonly T[] {
  const want = (process.env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return want.length === 0 ? all : all.filter((a) => want.includes(a));
}
const scale = Number(process.env.BENCH_SCALE ?? 1);
const count = (n: number) => Math.max(10, Math.round(n * scale));

const rows: Row[] = [];
const add: AddRow = (row) => {
  const r = withMet(row);
  rows.push(r);
  log(`  ${r.group} | ${r.name}: ${r.value === null ? '—' : +r.value.toFixed(2)} ${r.unit}${r.met === undefined ? '' : r.met ? ' (met)' : ' (NOT met)'}${r.note ? ` — ${r.note}` : ''}`);
};

/** Runs one measurement; a failure becomes a row without a value, and the bench goes on. */
async function part(label: string, f: () => Promise<void>, failed: Omit<Row, 'met' | 'value'> = { group: label, name: label, unit: '' }): Promise<void> {
  log(`-- ${label}`);
  try {
    await f();
  } catch (err) {
    log(`   FAILED: ${(err as Error).stack ?? String(err)}`);
    add({ ...failed, value: null, note: `failed: ${(err as Error).message.split('\n')[0]}` });
  }
}

const INTAKE_TARGETS: Record<DatabaseKind, Partial<Record<MixName, number>>> = {
  postgres: { plain: 1000, realistic: 500 },
  embedded: { plain: 250 },
};
const started = performance.now();

try {
  if (wanted('limits')) {
    const pgServer = await startServer('postgres');
    await part('parse rates', () => parseRates(add, count(2000)).then(() => undefined));
    await part('postgres transactions', () => postgresTransactionRate(add, pgServer, count(5000)), { group: 'limits', name: 'PostgreSQL 15: case-sized transaction, bare pg script', unit: 'tx/s' });
    await part('embedded transactions', async () => {
      const embedded = await startServer('embedded');
      try {
        await postgresTransactionRate(add, embedded, count(5000));
      } finally {
        await embedded.stop();
      }
    }, { group: 'limits', name: 'embedded PostgreSQL: case-sized transaction, bare pg script', unit: 'tx/s' });
    await part('dovecot fetch', () => dovecotFetchRate(add, count(5000)), { group: 'limits', name: 'Dovecot: bulk FETCH with source (imapflow)', unit: 'msg/s' });
    await part('sink acceptance', () => sinkAcceptanceRate(add, count(5000)), { group: 'limits', name: 'SMTP sink: acceptance', unit: 'msg/s' });
  }

  if (wanted('intake')) {
    for (const kind of listed('BENCH_DBS', ['postgres', 'embedded'] as const)) {
      const server = await startServer(kind);
      const dbLabel = kind === 'postgres' ? 'PostgreSQL 15' : 'embedded PostgreSQL';
      try {
        for (const mix of listed('BENCH_MIXES', ['plain', 'realistic', 'multi-issue'] as const)) {
          const name = `IMAP intake, ${dbLabel}: ${MIX_LABEL[mix]}`;
          const min = INTAKE_TARGETS[kind][mix];
          const target = min === undefined ? {} : { target: { min } };
          const n = count(mix === 'realistic' ? 1000 : 2000);
          await part(name, async () => {
            const r = await runIntake(server, mix, n);
            add({ group: 'intake', name, value: r.rate, unit: mix === 'realistic' ? 'msg/s' : 'msg/s (new requests)', ...target,
              note: `${r.messages} messages in ${r.seconds.toFixed(1)} s (after ${r.warmUp} untimed); ${r.cases} cases, ${r.acknowledgements} acknowledgements queued` });
            if (r.cpu) add({ group: 'cpu', name: `${name}: CPU of the whole machine per message`, value: r.cpu.perMessageMs.machine!, unit: 'ms/msg', note: describeCpuShare(r.cpu) });
          }, { group: 'intake', name, unit: 'msg/s', ...target });
        }
      } finally {
        await server.stop();
      }
    }
  }

  if (wanted('service')) await part('service', () => runServiceBench(add, log, count), { group: 'service', name: 'service (child processes)', unit: '' });
  if (wanted('delivery')) {
    const name = 'outbox dispatcher alone: acknowledgements reaching the SMTP sink';
    await part('delivery', async () => {
      const r = await runDeliveryOnce(count(2000));
      add({ group: 'delivery', name, value: r.rate, unit: 'mail/s', note: `${r.mails} in ${r.seconds.toFixed(1)} s, ${r.statementsPerMail.toFixed(2)} statements/mail` });
    }, { group: 'delivery', name, unit: 'mail/s' });
  }
  if (wanted('scale')) await part('scale', () => runScaleBench(add, log, scale), { group: 'scale', name: 'threading / list / stats at size', unit: '' });
  if (wanted('sweep')) await part('sweep', () => runSweepBench(log, add), { group: 'scale', name: 'sweep at 1,000,000 cases', unit: '' });
  if (wanted('understand')) await part('understand', () => runUnderstandingBench(log));
  if (wanted('hostile')) await part('hostile', () => runHostileBench(log));
} finally {
  await cleanupAll();
}

const seconds = (performance.now() - started) / 1000;
log('');
log(formatTable(rows));
// latest.json is the whole run's table (the committed one): a BENCH_ONLY, BENCH_DBS, BENCH_MIXES or scaled run writes only its own file.
const narrowed = ['BENCH_DBS', 'BENCH_MIXES'].some((name) => (process.env[name] ?? '').trim() !== '');
const full = only.length === 0 && scale === 1 && !narrowed;
const file = writeResults(path.join(repoRoot(), 'bench', 'results'), rows, { only: only.length ? only : 'all', scale, seconds: Math.round(seconds) }, full);
log(`\n${rows.length} figures in ${(seconds / 60).toFixed(1)} min; written to ${path.relative(process.cwd(), file)}${full ? ' and bench/results/latest.json' : ''}`);
process.exit(0);
