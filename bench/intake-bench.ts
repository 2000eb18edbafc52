// End-to-end intake throughput: a mix of messages APPENDed to a throwaway Dovecot, taken by the
// real IMAP intake and handler (understanding in the worker pool, as `casemail start` runs it) into a
// fresh database on PostgreSQL or the embedded server, timed until every message is committed
// (case, acknowledgement and notification queued). The realistic mix's replies answer cases an
// untimed first pass created. I/O: Dovecot, the database server, worker threads.
import { sql } from 'kysely';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, migrateToLatest, type Db } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { MessageHandler } from '../src/cases/message-handler.js';
import { databaseCursorStore } from '../src/cases/mailbox-cursors.js';
import { ImapIntake } from '../src/ingest/imap-intake.js';
import { createUnderstandPool, type UnderstandPool } from '../src/ingest/understand-pool.js';
import { silentLogger } from '../src/log/logger.js';
import { createDatabase, type BenchServer } from './bench-db.js';
import { startCpuShare, type CpuShare } from './cpu-share.js';
import { appendAll, startDovecot, type BenchDovecot } from './dovecot.js';
import { benchDirectory, mixMessages, plainRequest, repliesIn, SENDERS, VOLUME_LIMITS, type CaseRef, type MixName } from './mail-mixes.js';

export interface IntakeResult {
  messages: number;
  seconds: number;
  rate: number;
  cases: number;
  acknowledgements: number;
  /** Messages of the untimed first pass. */
  warmUp: number;
  /** Set when the run did not finish. */
  error?: string;
  /** CPU of the timed pass by party (this process is the intake), or null off Linux. */
  cpu: CpuShare | null;
}

/** Dovecot's process names (/proc/<pid>/comm). */
const DOVECOT_PROCESSES = ['dovecot', 'imap', 'imap-login', 'anvil', 'log', 'config', 'auth'];

/** Plain requests in the untimed first pass before every timed one. */
const WARM_UP = Number(process.env.BENCH_WARM_UP ?? 500);

const settings = () => loadConfig({ env: {}, overrides: { limits: VOLUME_LIMITS } }).settings;

/** Runs the IMAP intake over what INBOX holds until `n` messages are handled; resolves with the seconds it took. */
async function drain(db: Db, dovecot: BenchDovecot, n: number, deadlineMs: number, understanding: UnderstandPool): Promise<number> {
  const s = settings();
  // As start-command.ts runs it: the whole understanding in the worker pool (BENCH_IN_PROCESS=1:
  // on the main thread instead, to see what the pool costs).
  const handler = new MessageHandler({ db, settings: s, logger: silentLogger, clock: () => new Date(), ...(process.env.BENCH_IN_PROCESS ? {} : { understand: (raw: Buffer) => understanding.understand(raw) }) });
  const intake = new ImapIntake({
    account: 'bench', host: dovecot.host, port: dovecot.port, secure: false, user: dovecot.user, pass: dovecot.password,
    folder: 'INBOX', processedFolder: 'Processed', quarantineFolder: 'Quarantine', logger: silentLogger,
    handler, cursors: databaseCursorStore(db), maxAttempts: 3,
    ...(process.env.BENCH_CONCURRENCY ? { concurrency: Number(process.env.BENCH_CONCURRENCY) } : {}),
    ...(process.env.BENCH_BATCH ? { batchSize: Number(process.env.BENCH_BATCH) } : {}),
    ...(process.env.BENCH_GROUP ? { groupSize: Number(process.env.BENCH_GROUP) } : {}),
  });
  let handled = 0;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve, reject) => {
    intake.on('acknowledged', (e: { processed: unknown[]; quarantined: unknown[] }) => {
      handled += e.processed.length + e.quarantined.length;
      if (handled >= n) resolve();
    });
    timer = setTimeout(() => reject(new Error(`only ${handled} of ${n} handled within ${deadlineMs / 1000} s`)), deadlineMs);
  });
  const t = performance.now();
  try {
    await intake.start();
    await done;
    return (performance.now() - t) / 1000;
  } finally {
    clearTimeout(timer);
    await intake.stop();
  }
}

/** The seed cases a realistic run replies to: number, request and acknowledgement Message-IDs. */
async function seedRefs(db: Db): Promise<CaseRef[]> {
  const rows = await sql<{ number: string; request: string; ack: string | null; sender: string }>`
    select c.number, m.message_id_header as request, min(o.message_id_header) as ack, m.from_address as sender
      from cases c join messages m on m.case_id = c.id and m.direction = 'inbound'
      left join outbox o on o.case_id = c.id and o.kind = 'acknowledgement'
     group by c.number, m.message_id_header, m.from_address order by c.number`.execute(db);
  return rows.rows.map((r) => ({
    number: Number(r.number), requestId: r.request, ackId: r.ack ? (r.ack.startsWith('<') ? r.ack : `<${r.ack}>`) : null,
    sender: Number(/contact(\d+)@/.exec(r.sender)?.[1] ?? 0) % SENDERS,
  }));
}

async function count(db: Db, what: 'cases' | 'acks'): Promise<number> {
  const q = what === 'cases'
    ? db.selectFrom('cases').select((eb) => eb.fn.countAll<string>().as('n'))
    : db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('kind', '=', 'acknowledgement');
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export async function runIntake(server: BenchServer, mix: MixName, n: number): Promise<IntakeResult> {
  const dovecot = await startDovecot();
  if (!dovecot) throw new Error('Dovecot is not installed (apt-get install -y dovecot-imapd)');
  const database = await createDatabase(server, `intake_${mix}`);
  const handle = await openDatabase({ databaseUrl: database.url, poolSize: 12 });
  // One pool of understanding threads for the untimed pass and the timed one, as a running service has.
  const understanding = createUnderstandPool(settings(), silentLogger);
  try {
    await migrateToLatest(handle.db);
    await importDirectory(handle.db, benchDirectory());
    const stamp = Date.now();
    const deadline = Number(process.env.BENCH_INTAKE_DEADLINE_S ?? 600) * 1000;
    // An untimed first pass of plain requests through the same intake code and threads, so the
    // timed pass meets warm code as a running service does, not V8 compiling it: without it, V8's
    // compiler threads took about a quarter of the machine during the 5 KB run. The realistic mix's
    // replies answer the cases this pass creates.
    const seeds = Math.max(WARM_UP, mix === 'realistic' ? Math.ceil(repliesIn(n) / 3) : 0);
    await appendAll(dovecot, Array.from({ length: seeds }, (_, i) => plainRequest(i, stamp, 'seed')));
    await drain(handle.db, dovecot, seeds, deadline, understanding);
    const refs: CaseRef[] = mix === 'realistic' ? await seedRefs(handle.db) : [];
    const casesBefore = await count(handle.db, 'cases');
    const acksBefore = await count(handle.db, 'acks');
    await appendAll(dovecot, mixMessages(mix, n, stamp, refs));
    const cpuOfPass = startCpuShare({
      'this process (intake)': { pids: () => [process.pid] }, PostgreSQL: { comm: ['postgres'] }, Dovecot: { comm: DOVECOT_PROCESSES },
    });
    const seconds = await drain(handle.db, dovecot, n, deadline, understanding);
    const cpu = cpuOfPass(n);
    return {
      messages: n, seconds, rate: n / seconds, warmUp: seeds, cpu,
      cases: (await count(handle.db, 'cases')) - casesBefore, acknowledgements: (await count(handle.db, 'acks')) - acksBefore,
    };
  } finally {
    await understanding.close();
    await handle.close();
    await database.drop();
    await dovecot.stop();
  }
}
