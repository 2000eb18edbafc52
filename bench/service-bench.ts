// The real service, measured from outside: `casemail start` of this checkout as child processes on
// a fresh PostgreSQL database, SMTP intake from concurrent nodemailer clients, acknowledgements
// delivered to the bench's SMTP sink. Figures: SMTP intake rate (counted until the acknowledgements
// reach the sink), delivery rate, latency from SMTP DATA end to the acknowledgement at the sink
// (idle and at a steady 50 messages/s), peak RSS with five 25 MB messages, RSS after 10× more
// messages, and throughput with 1, 2 and 3 instances on one database. RSS from /proc (Linux); the
// peak of the 25 MB phase is its own (VmHWM reset through /proc/<pid>/clear_refs before it), the
// whole run's peak up to then is a row of its own. BENCH_SERVICE=memory runs only the memory phase
// (idle RSS, 1,000 small, then the five 25 MB; about a minute), BENCH_SERVICE=burst only the SMTP
// burst (warm-up and the timed burst). Diagnostics: CASEMAIL_DEBUG_MEMORY=<ms>
// (the child logs process.memoryUsage() to stderr, shown here), MALLOC_* and NODE_OPTIONS are passed
// to the child, BENCH_INFLIGHT sets its smtpIntake.maxBytesInFlight, BENCH_SERVICE_WRAP runs it under a
// command (a native heap profiler such as heaptrack whose wrapper execs, so the pid stays the service's).
// I/O: child processes, temp folders, the database server, local SMTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer, { type Transporter } from 'nodemailer';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { createDatabase, startServer, type BenchDatabase } from './bench-db.js';
import { startSink, type BenchSink } from './bench-sink.js';
import { onCleanup } from './cleanup.js';
import { imapClient, repoRoot, startDovecot, type BenchDovecot } from './dovecot.js';
import type { ImapFlow } from 'imapflow';
import { benchDirectory, messageId, plainRequest, SENDERS, VOLUME_LIMITS } from './mail-mixes.js';
import { sendTimed } from './smtp-client.js';
import { describeCpuShare, startCpuShare } from './cpu-share.js';
import type { AddRow } from './table.js';

const CLIENTS = 8;
const WAIT_MS = Number(process.env.BENCH_SERVICE_DEADLINE_S ?? 900) * 1000;

interface Service {
  pid: number;
  smtpPort: number;
  rssMb(): number;
  /** RSS right after the service's main thread collected all its garbage (bench/collect-on-signal.ts). */
  collectedRssMb(): Promise<number>;
  peakRssMb(): number;
  /** Starts a new peak (VmHWM) from the current RSS: writing 5 to /proc/<pid>/clear_refs (Linux). */
  resetPeak(): void;
  stop(): Promise<void>;
}

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** BENCH_SERVICE=memory runs only the memory phase of the service part (start, a few small, five 25 MB); =burst only the SMTP burst. */
const servicePart = process.env.BENCH_SERVICE ?? '';

/** Also reads the INBOX of `dovecot` by IMAP when given. */
async function startService(databaseUrl: string, sinkPort: number, dovecot: BenchDovecot | null = null): Promise<Service> {
  const dir = mkdtempSync(path.join(tmpdir(), 'casemail-bench-service-'));
  const config = path.join(dir, 'casemail.json');
  writeFileSync(config, JSON.stringify({
    dataDir: dir, demoDirectory: false, smtpIntake: { host: '127.0.0.1', port: 0, ...(process.env.BENCH_INFLIGHT ? { maxBytesInFlight: Number(process.env.BENCH_INFLIGHT) } : {}) }, outbox: { transport: 'smtp' }, limits: VOLUME_LIMITS,
    ...(dovecot ? { imap: { mailboxes: [{ name: 'support', folder: 'INBOX', processedFolder: 'Processed', quarantineFolder: 'Quarantine' }] } } : {}),
  }));
  const env = {
    PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, SMTP_URL: `smtp://127.0.0.1:${sinkPort}`, CASEMAIL_CONFIG: config,
    ...(dovecot ? { IMAP_URL: `imap://${encodeURIComponent(dovecot.user)}:${encodeURIComponent(dovecot.password)}@${dovecot.host}:${dovecot.port}` } : {}),
  };
  const debug = Object.fromEntries(Object.entries(process.env).filter(([k]) => k === 'CASEMAIL_DEBUG_MEMORY' || k.startsWith('MALLOC_') || k === 'NODE_OPTIONS'));
  // BENCH_SERVICE_WRAP: a command the child runs under (e.g. "heaptrack -o /tmp/casemail"), for a native heap profile.
  const wrap = (process.env.BENCH_SERVICE_WRAP ?? '').split(/\s+/).filter(Boolean);
  const collector = pathToFileURL(path.join(repoRoot(), 'dist/bench/collect-on-signal.js')).href;
  const argv = [...wrap.slice(1), process.execPath, '--expose-gc', '--import', collector, path.join(repoRoot(), 'bin/casemail.js'), 'start'];
  const child: ChildProcess = spawn(wrap[0] ?? argv.shift()!, argv, { env: { ...env, ...debug }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = onCleanup(`service ${child.pid}`, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20_000);
  };
  child.stderr!.on('data', keep);
  // CASEMAIL_DEBUG_MEMORY: the child's memory lines (stderr) are shown as they come.
  if (process.env.CASEMAIL_DEBUG_MEMORY) child.stderr!.on('data', (b: Buffer) => process.stderr.write(b));
  try {
    const smtpPort = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => {
        keep(b);
        const m = /"port":(\d+)[^\n]*SMTP intake listening/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`casemail start exited (${code}):\n${out.slice(-2000)}`)));
    });
    const pid = child.pid!;
    const collectedRssMb = () => new Promise<number>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => done(new Error('the service did not answer SIGUSR2 within 30 s')), 30_000);
      const onData = (b: Buffer) => {
        text += b.toString();
        if (/^collected$/m.test(text)) done(null, statusMb(pid, 'VmRSS'));
      };
      const done = (err: Error | null, mb = NaN) => {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        if (err) reject(err);
        else resolve(mb);
      };
      child.stderr!.on('data', onData);
      child.kill('SIGUSR2');
    });
    return {
      pid, smtpPort, rssMb: () => statusMb(pid, 'VmRSS'), peakRssMb: () => statusMb(pid, 'VmHWM'), collectedRssMb,
      resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, '5'), stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A database with the bench's directory, ready for `casemail start`. */
async function serviceDatabase(tag: string): Promise<BenchDatabase> {
  const database = await createDatabase(await startServer('postgres'), tag);
  const migrated = await openDatabase({ databaseUrl: database.url, poolSize: 2 });
  try {
    await migrateToLatest(migrated.db);
    await importDirectory(migrated.db, benchDirectory());
  } finally {
    await migrated.close();
  }
  return database;
}

const bare = (id: string) => id.replace(/^<|>$/g, '').trim();

/** Sends messages and matches each acknowledgement at the sink to the request it answers. */
class Traffic {
  private readonly sentAt = new Map<string, number>();
  private readonly ackedAt = new Map<string, number>();
  private seen = 0;
  private readonly transports: Transporter[];
  private next = 0;

  /** The IMAP connection APPENDs go over, when the service reads a Dovecot. */
  imap: ImapFlow | null = null;

  constructor(private readonly sink: BenchSink, ports: number[]) {
    this.transports = ports.map((port) => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: CLIENTS, maxMessages: Infinity, socketTimeout: 300_000 }));
  }

  private collect(): void {
    for (; this.seen < this.sink.arrivals.length; this.seen++) {
      const a = this.sink.arrivals[this.seen]!;
      const id = a.inReplyTo ? bare(a.inReplyTo) : null;
      if (id && this.sentAt.has(id) && !this.ackedAt.has(id)) this.ackedAt.set(id, a.at);
    }
  }

  /** Sends one raw request (retrying 4xx as an MTA does); resolves when the service accepted it (DATA end). */
  async send(raw: Buffer): Promise<void> {
    const id = bare(/^Message-ID:\s*(\S+)/im.exec(raw.subarray(0, 2000).toString('latin1'))![1]!);
    const transport = this.transports[this.next++ % this.transports.length]!;
    for (let attempt = 0; ; attempt++) {
      try {
        // SIZE declared on MAIL FROM, as Postfix and Exim do when the server offers it.
        await transport.sendMail({ envelope: { from: 'contact0@acme.example', to: ['support@casemail.localhost'], size: raw.length } as { from: string; to: string[] }, raw });
        this.sentAt.set(id, performance.now());
        return;
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        if ((code !== undefined && code >= 500) || attempt > 200) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Sends one raw request on its own connection, timing from the end of DATA (the final "." written). */
  async sendTimed(raw: Buffer, port: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const r = await sendTimed(port, raw, 'contact0@acme.example', 'support@casemail.localhost');
      if (r.code < 400) {
        this.sentAt.set(bare(idOf(raw)), r.dataEnd);
        return;
      }
      if (r.code >= 500 || attempt > 200) throw new Error(`SMTP: ${r.code}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** APPENDs one raw request to the INBOX the service reads; resolves when Dovecot stored it. */
  async append(raw: Buffer): Promise<void> {
    await this.imap!.append('INBOX', raw);
    this.sentAt.set(bare(idOf(raw)), performance.now());
  }

  /** Waits until every request sent so far has its acknowledgement at the sink. */
  async allAcknowledged(timeoutMs = WAIT_MS): Promise<void> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      this.collect();
      if (this.ackedAt.size >= this.sentAt.size) return;
      if (performance.now() > until) throw new Error(`${this.ackedAt.size} of ${this.sentAt.size} acknowledgements reached the sink within ${timeoutMs / 1000} s`);
      await this.sink.waitFor(this.sink.arrivals.length + 1, Math.max(1, until - performance.now())).catch(() => undefined);
    }
  }

  latencies(ids: readonly string[]): number[] {
    this.collect();
    return ids.map((id) => (this.ackedAt.get(bare(id))! - this.sentAt.get(bare(id))!) / 1000).filter(Number.isFinite).sort((a, b) => a - b);
  }

  ackTimes(ids: readonly string[]): number[] {
    this.collect();
    return ids.map((id) => this.ackedAt.get(bare(id))!).filter(Number.isFinite).sort((a, b) => a - b);
  }

  close(): void {
    for (const t of this.transports) t.close();
  }
}

/** Sends `raws` from CLIENTS concurrent senders. */
async function sendAll(traffic: Traffic, raws: readonly Buffer[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = next++; i < raws.length; i = next++) await traffic.send(raws[i]!);
  }));
}

const idOf = (raw: Buffer) => /^Message-ID:\s*(\S+)/im.exec(raw.subarray(0, 2000).toString('latin1'))![1]!;

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function latencyRows(add: AddRow, label: string, sorted: readonly number[], note: string): void {
  if (sorted.length === 0) throw new Error(`${label}: no acknowledgement matched`);
  add({ group: 'latency', name: `${label}: p50`, value: percentile(sorted, 50), unit: 's', target: { max: 0.7 }, note });
  add({ group: 'latency', name: `${label}: p99`, value: percentile(sorted, 99), unit: 's', target: { max: 1.5 }, note });
  add({ group: 'latency', name: `${label}: max`, value: sorted.length ? sorted[sorted.length - 1]! : null, unit: 's', note });
}

/** A ~25 MB request with a base64 attachment. */
function bigRequest(i: number, stamp: number): Buffer {
  const s = i % SENDERS;
  const headText = `From: Contact ${s} <contact${s}@acme.example>\r\nTo: support@casemail.localhost\r\nSubject: Big log ${i}\r\nMessage-ID: ${messageId('big', stamp, i)}\r\n`
    + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe log is attached.\r\n'
    + '--b\r\nContent-Type: application/octet-stream; name="log.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n';
  const rawBytes = Math.floor(((25_000_000 - headText.length - 10) / 78) * 57);
  const body = Buffer.alloc(rawBytes, i + 1).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(`${headText}${body}\r\n--b--\r\n`);
}

const requests = (n: number, stamp: number, tag: string) => Array.from({ length: n }, (_, i) => plainRequest(i, stamp, tag));

export async function runServiceBench(add: AddRow, log: (line: string) => void, count: (n: number) => number): Promise<void> {
  const sink = await startSink();
  try {
    if (servicePart === 'memory') {
      await memoryRun(add, log, sink, count);
      return;
    }
    if (servicePart === 'burst') {
      await burstRun(add, log, sink, count);
      return;
    }
    await oneInstanceRun(add, log, sink, count);
    await instancesRun(add, log, sink, count);
  } finally {
    await sink.stop();
  }
}

async function oneInstanceRun(add: AddRow, log: (line: string) => void, sink: BenchSink, count: (n: number) => number): Promise<void> {
  const database = await serviceDatabase('service');
  const dovecot = await startDovecot();
  if (!dovecot) log('   service: Dovecot is not installed, latency from APPEND is left out');
  const service = await startService(database.url, sink.port, dovecot);
  add({ group: 'memory', name: 'RSS of the service idle after start', value: service.rssMb(), unit: 'MB' });
  const traffic = new Traffic(sink, [service.smtpPort]);
  if (dovecot) traffic.imap = await imapClient(dovecot);
  const ways = [
    { tag: 'smtp', label: 'SMTP DATA end', send: (raw: Buffer) => traffic.sendTimed(raw, service.smtpPort) },
    ...(dovecot ? [{ tag: 'imap', label: 'IMAP APPEND', send: (raw: Buffer) => traffic.append(raw) }] : []),
  ];
  let sent = 0;
  try {
    const stamp = Date.now();
    // Idle: one request at a time, each after the previous one's acknowledgement arrived.
    for (const way of ways) {
      const idle = requests(count(30), stamp, `idle-${way.tag}`);
      for (const raw of idle) {
        await way.send(raw);
        await traffic.allAcknowledged(60_000);
      }
      sent += idle.length;
      latencyRows(add, `${way.label} → acknowledgement at the sink, idle`, traffic.latencies(idle.map(idOf)), `${idle.length} requests one at a time`);
    }

    sent += await burstRows(add, service, traffic, count, stamp);

    // A steady 50 messages/s.
    for (const way of ways) {
      const steadyN = count(500);
      const steady = requests(steadyN, stamp, `steady-${way.tag}`);
      const s0 = performance.now();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < steadyN; i++) {
        const wait = s0 + i * 20 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sends.push(way.send(steady[i]!));
      }
      await Promise.all(sends);
      await traffic.allAcknowledged();
      sent += steadyN;
      latencyRows(add, `${way.label} → acknowledgement at the sink, steady 50 msg/s`, traffic.latencies(steady.map(idOf)), `${steadyN} requests over ${(steadyN / 50).toFixed(0)} s`);
    }

    // The APPENDs are done; an IMAP connection idle through the growth phase would time out.
    await traffic.imap?.logout().catch(() => undefined);
    traffic.imap = null;

    // Growth: RSS once the service has taken 5,000 messages, and again after 50,000 (BENCH_GROWTH=first,last).
    const [firstAt, lastAt] = (process.env.BENCH_GROWTH ?? '5000,50000').split(',').map((x) => Math.max(sent + 1, count(Number(x))));
    const vacuum = await vacuumStandIn(database.url);
    let batch = 0;
    const upTo = async (total: number) => {
      while (sent < total) {
        const k = Math.min(2000, total - sent);
        await sendAll(traffic, requests(k, stamp, `growth${batch++}`));
        await traffic.allAcknowledged();
        sent += k;
        await vacuum.afterBatch();
      }
    };
    await upTo(firstAt!);
    // Each reading: RSS as the last acknowledgement arrives (anywhere on V8's sawtooth: its old
    // generation grows to a few times what is live before a full collection), then RSS once the
    // main thread has collected its garbage, which is what growth is judged on.
    const reading = async () => ({ atOnce: service.rssMb(), collected: await service.collectedRssMb() });
    const first = await reading();
    const g0 = performance.now();
    await upTo(Math.max(lastAt!, firstAt! + 1));
    const last = await reading();
    log(`   growth: ${(sent - firstAt!).toLocaleString('en')} more messages in ${((performance.now() - g0) / 1000).toFixed(0)} s`);
    const atOnce = (r: { atOnce: number }) => `after a full collection of the main thread; ${r.atOnce.toFixed(0)} MB before it`;
    add({ group: 'memory', name: `RSS after ${firstAt!.toLocaleString('en')} messages`, value: first.collected, unit: 'MB', note: atOnce(first) });
    add({ group: 'memory', name: `RSS after ${sent.toLocaleString('en')} messages`, value: last.collected, unit: 'MB', note: atOnce(last) });
    add({ group: 'memory', name: `RSS growth from ${firstAt!.toLocaleString('en')} to ${sent.toLocaleString('en')} messages`, value: last.collected - first.collected, unit: 'MB', target: { max: 0.1 * first.collected },
      note: `no growth: less than 10% of the first figure, both after a full collection (before it: ${(last.atOnce - first.atOnce).toFixed(0)} MB)${vacuum.note}` });

    // Memory: five 25 MB requests among small ones; the peak of the whole run, then of this phase alone.
    // Another 2,000 small requests first, so the phase starts where a working service stands, not
    // right after the full collection the growth reading made.
    await upTo(sent + count(2000));
    const wholeRunBefore = service.peakRssMb();
    sent += await bigPhase(add, service, traffic, count, stamp, `${sent} messages`);
    add({ group: 'memory', name: 'peak RSS of the service over the whole run before the 25 MB messages', value: wholeRunBefore, unit: 'MB',
      note: `VmHWM before the big-message phase reset it: ${sent} messages in all` });

  } finally {
    await traffic.imap?.logout().catch(() => undefined);
    traffic.close();
    await service.stop();
    await dovecot?.stop();
    await database.drop();
  }
}

/**
 * Autovacuum, when the server has it off (this machine's CI configuration of PostgreSQL 15 does;
 * every production server, managed or embedded, has it on): VACUUM ANALYZE of the service's
 * database after each batch of the growth phase. Without it the outbox's dead rows (each
 * acknowledgement sent is one) pile up under the dispatcher's partial index and every claim
 * reads past them: at 47,000 messages a claim took 36 ms and delivery fell to ~33 mail/s.
 */
async function vacuumStandIn(url: string): Promise<{ afterBatch: () => Promise<void>; note: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const on = (await client.query<{ autovacuum: string }>('show autovacuum')).rows[0]?.autovacuum === 'on';
    if (on) return { afterBatch: async () => undefined, note: '' };
  } finally {
    await client.end();
  }
  return {
    afterBatch: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query('VACUUM (ANALYZE)');
      } finally {
        await c.end();
      }
    },
    note: '; the server has autovacuum off, so the bench ran VACUUM ANALYZE after each 2,000 as autovacuum would',
  };
}

/**
 * Five ~25 MB requests sent at once among small ones (the MTA-like client retries 451s), with the
 * peak reset just before: the peak is this phase's own. Returns the number of messages sent.
 */
async function bigPhase(add: AddRow, service: Service, traffic: Traffic, count: (n: number) => number, stamp: number, before: string): Promise<number> {
  const big = Array.from({ length: 5 }, (_, i) => bigRequest(i, stamp));
  const small = requests(count(200), stamp, 'around-big');
  const rssBefore = service.rssMb();
  service.resetPeak();
  const t0 = performance.now();
  await Promise.all([...big.map((raw) => traffic.send(raw)), sendAll(traffic, small)]);
  await traffic.allAcknowledged();
  const seconds = (performance.now() - t0) / 1000;
  add({ group: 'memory', name: 'peak RSS of the service (PostgreSQL), run with five 25 MB messages', value: service.peakRssMb(), unit: 'MB', target: { max: 300 },
    note: `VmHWM of the phase (reset before it, RSS then ${rssBefore.toFixed(0)} MB after ${before}): 5 × 25 MB sent at once among ${small.length} small, all acknowledged in ${seconds.toFixed(1)} s` });
  add({ group: 'memory', name: 'RSS after the five 25 MB messages', value: service.rssMb(), unit: 'MB' });
  return big.length + small.length;
}

/**
 * Throughput from concurrent clients, counted until the acknowledgements reach the sink, after an
 * untimed first burst: a running service meets warm code, not V8 compiling it. Returns how many it sent.
 */
async function burstRows(add: AddRow, service: Service, traffic: Traffic, count: (n: number) => number, stamp: number): Promise<number> {
  const warm = requests(count(500), stamp, 'warm');
  await sendAll(traffic, warm);
  await traffic.allAcknowledged();
  const n = count(2000);
  const burst = requests(n, stamp, 'burst');
  const cpuOfBurst = startCpuShare({
    service: { pids: () => [service.pid] }, PostgreSQL: { comm: ['postgres'] }, 'bench (clients and sink)': { pids: () => [process.pid] },
  });
  const t0 = performance.now();
  await sendAll(traffic, burst);
  const accepted = performance.now();
  await traffic.allAcknowledged();
  const cpu = cpuOfBurst(n);
  const acks = traffic.ackTimes(burst.map(idOf));
  const seconds = (acks[acks.length - 1]! - t0) / 1000;
  add({ group: 'intake', name: 'SMTP intake, PostgreSQL 15: 5 KB new requests, counted to the acknowledgement at the sink', value: n / seconds, unit: 'msg/s (new requests)', target: { min: 500 },
    note: `${n} from ${CLIENTS} clients in ${seconds.toFixed(1)} s (all accepted after ${((accepted - t0) / 1000).toFixed(1)} s), after ${warm.length} untimed` });
  const window = (acks[acks.length - 1]! - acks[0]!) / 1000;
  add({ group: 'delivery', name: 'acknowledgements reaching the SMTP sink', value: acks.length / window, unit: 'mail/s', note: `${acks.length} acknowledgements over ${window.toFixed(1)} s (first to last)` });
  if (cpu) add({ group: 'cpu', name: 'SMTP intake burst to the acknowledgement at the sink: CPU of the whole machine per message', value: cpu.perMessageMs.machine!, unit: 'ms/msg', note: describeCpuShare(cpu) });
  return warm.length + n;
}

/** BENCH_SERVICE=burst: only the SMTP burst (warm-up, then the timed burst), to try a change quickly. */
async function burstRun(add: AddRow, log: (line: string) => void, sink: BenchSink, count: (n: number) => number): Promise<void> {
  const database = await serviceDatabase('burst');
  const service = await startService(database.url, sink.port);
  const traffic = new Traffic(sink, [service.smtpPort]);
  try {
    await burstRows(add, service, traffic, count, Date.now());
    log('   burst: done');
  } finally {
    traffic.close();
    await service.stop();
    await database.drop();
  }
}

/** BENCH_SERVICE=memory: only the idle RSS, a warm-up of small requests and the big-message phase. */
async function memoryRun(add: AddRow, log: (line: string) => void, sink: BenchSink, count: (n: number) => number): Promise<void> {
  const database = await serviceDatabase('memory');
  const service = await startService(database.url, sink.port);
  const traffic = new Traffic(sink, [service.smtpPort]);
  try {
    const stamp = Date.now();
    add({ group: 'memory', name: 'RSS of the service idle after start', value: service.rssMb(), unit: 'MB' });
    const warm = requests(count(1000), stamp, 'warm');
    await sendAll(traffic, warm);
    await traffic.allAcknowledged();
    add({ group: 'memory', name: `RSS after ${warm.length} small messages`, value: service.rssMb(), unit: 'MB', note: `peak so far ${service.peakRssMb().toFixed(0)} MB` });
    await bigPhase(add, service, traffic, count, stamp, `${warm.length} small messages`);
    log('   memory: done');
  } finally {
    traffic.close();
    await service.stop();
    await database.drop();
  }
}

async function instancesRun(add: AddRow, log: (line: string) => void, sink: BenchSink, count: (n: number) => number): Promise<void> {
  for (const k of [1, 2, 3]) {
    const database = await serviceDatabase(`instances${k}`);
    const services: Service[] = [];
    let traffic: Traffic | null = null;
    try {
      for (let i = 0; i < k; i++) services.push(await startService(database.url, sink.port));
      traffic = new Traffic(sink, services.map((s) => s.smtpPort));
      const n = count(1000);
      const raws = requests(n, Date.now(), `inst${k}`);
      const t0 = performance.now();
      await sendAll(traffic, raws);
      await traffic.allAcknowledged();
      const acks = traffic.ackTimes(raws.map(idOf));
      const seconds = (acks[acks.length - 1]! - t0) / 1000;
      add({ group: 'instances', name: `${k} instance${k > 1 ? 's' : ''} on one PostgreSQL database: SMTP intake to acknowledgement at the sink`, value: n / seconds, unit: 'msg/s',
        note: `${n} requests from ${CLIENTS} clients spread over ${k} intake${k > 1 ? 's' : ''}, ${seconds.toFixed(1)} s` });
    } finally {
      traffic?.close();
      for (const s of services) await s.stop();
      await database.drop();
    }
  }
  log('   instances: done');
}
