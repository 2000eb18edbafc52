// A dropped database connection must not end the service: `casemail start` runs as a child process
// while mail flows in over IMAP and SMTP, and every backend of the test database is terminated
// (pg_terminate_backend) four times mid-run. Then the database goes away for a while (the service
// reaches PostgreSQL through a TCP relay in this test, which is stopped): SMTP answers 451, new IMAP
// mail stays unseen in the folder, and once the relay is back everything flows without a restart.
// The SMTP senders behave like an MTA (a 4xx is retried). Afterwards: every message is in exactly
// one case, every acknowledgement reached the sink exactly once, and the same process is serving.
// Runs on the PostgreSQL tier (DATABASE_URL): the relay that takes the database away is a TCP
// relay, and the embedded server listens on a Unix socket only.
import { connect, createServer, type Server, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildRequest } from '../support/mail-builder.js';
import {
  acknowledgements, appendAll, distinctAnswered, folderCount, headerOf, imapClient, imapUrl, serviceSettings, smtpUrl, spawnService, waitForOutput,
} from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const IMAP_N = 120;
const SMTP_N = 60;
const N = IMAP_N + SMTP_N;
/** Sent while the database is away: IMAP messages appended then, and one SMTP message. */
const AWAY_IMAP = 5;
const TOTAL = N + AWAY_IMAP + 1 + 1; // + the SMTP one sent while away + one after recovery

/** A TCP relay to PostgreSQL on loopback: stop() is the database going away (connections reset, new ones refused). */
function tcpRelay(target: { host: string; port: number }) {
  let server: Server | null = null;
  const open = new Set<Socket>();
  let port = 0;
  return {
    get port() {
      return port;
    },
    async start(): Promise<void> {
      const s = createServer((client) => {
        const upstream = connect(target.port, target.host);
        open.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          open.delete(client);
          open.delete(upstream);
        };
        for (const sock of [client, upstream]) sock.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
      port = (s.address() as { port: number }).port;
      server = s;
    },
    async stop(): Promise<void> {
      const s = server;
      server = null;
      for (const sock of open) sock.destroy();
      open.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

/** One attempt; resolves with the refusal (fails when the message was accepted). */
async function refusal(attempt: Promise<unknown>): Promise<{ responseCode?: number }> {
  try {
    await attempt;
  } catch (error) {
    return error as { responseCode?: number };
  }
  throw new Error('expected a refusal');
}

function send(port: number, raw: Buffer): Promise<unknown> {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true })
    .sendMail({ envelope: { from: 'bob@acme.example', to: ['support@casemail.localhost'] }, raw });
}

async function unseenIn(d: DovecotServer, folder: string): Promise<number> {
  const client = await imapClient(d);
  try {
    await client.mailboxOpen(folder, { readOnly: true });
    return ((await client.search({ seen: false }, { uid: true })) || []).length;
  } finally {
    await client.logout();
  }
}

/** Sends like an MTA: a temporary failure (4xx, or the connection lost) is tried again. */
async function sendAsMta(port: number, raw: Buffer, counters: { temporary: number }): Promise<void> {
  for (let attempt = 1; attempt <= 200; attempt++) {
    try {
      await send(port, raw);
      return;
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      if (code !== undefined && code >= 500) throw error;
      counters.temporary += 1;
      // An MTA's retry queue, compressed: a short pause before the next attempt.
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('gave up after 200 attempts');
}

const suite = databaseKind() === 'postgres' ? describeWithDovecot : (name: string, body: () => void) => {
  console.warn(`SKIPPED: "${name}" needs PostgreSQL over TCP (DATABASE_URL): the embedded server listens on a Unix socket only`);
  describe.skip(`${name} [SKIPPED: needs DATABASE_URL]`, body);
};

suite('database connections dropped mid-run: the service survives and loses nothing', () => {
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let tdb: TestDatabase;
  let admin: pg.Client;
  let dataDir: string;
  let relay: ReturnType<typeof tcpRelay>;

  beforeAll(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    dataDir = tempDir('casemail-dbfaults-');
    const u = new URL(tdb.url!);
    relay = tcpRelay({ host: u.hostname, port: Number(u.port) || 5432 });
    await relay.start();
  });
  afterAll(async () => {
    await relay?.stop();
    await admin?.end();
    await tdb?.close();
    await sink?.stop();
    await dovecot?.stop();
  });

  async function terminateBackends(): Promise<number> {
    const database = new URL(tdb.url!).pathname.slice(1);
    const r = await admin.query('select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
    return r.rows.filter((row: { ok: boolean }) => row.ok).length;
  }

  it('keeps serving SMTP and IMAP through terminated backends and recovers by itself', { timeout: 300_000 }, async () => {
    const stamp = Date.now();
    const imapRaws = Array.from({ length: IMAP_N }, (_, i) => buildRequest(i, { messageId: `<dbf-imap-${i}-${stamp}@acme.example>` }));
    const smtpRaws = Array.from({ length: SMTP_N }, (_, i) => buildRequest(IMAP_N + i, { messageId: `<dbf-smtp-${i}-${stamp}@acme.example>` }));
    await appendAll(dovecot, imapRaws);

    const viaRelay = new URL(tdb.url!);
    viaRelay.port = String(relay.port);
    const service = spawnService({ DATABASE_URL: viaRelay.toString(), IMAP_URL: imapUrl(dovecot), SMTP_URL: smtpUrl(sink) },
      serviceSettings(dataDir), dataDir);
    try {
      const listening = await waitForOutput(service, /"port":(\d+)[^\n]*SMTP intake listening/);
      const port = Number(listening[1]);
      const counters = { temporary: 0 };
      // Four senders in parallel, as several MTAs would.
      let next = 0;
      const sender = async () => {
        while (next < smtpRaws.length) await sendAsMta(port, smtpRaws[next++]!, counters);
      };
      const sending = Promise.all(Array.from({ length: 4 }, sender));
      sending.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection first

      // Four times, spread over the run, so some land inside transactions of both intakes.
      let terminated = 0;
      for (const share of [1 / 6, 2 / 6, 3 / 6, 4 / 6]) {
        await sink.waitFor((m) => distinctAnswered(m).size >= N * share, 120_000);
        terminated += await terminateBackends();
      }
      expect(terminated, 'backends were terminated').toBeGreaterThan(0);

      await sending;
      await sink.waitFor((m) => distinctAnswered(m).size >= N, 180_000);
      expect(service.child.exitCode, service.output().slice(-4000)).toBeNull();

      // The database goes away: SMTP answers 451, new IMAP mail stays unseen in the folder.
      await relay.stop();
      const mark = service.output().length;
      const awaySmtp = buildRequest(500, { messageId: `<dbf-away-smtp-${stamp}@acme.example>` });
      const refused = await refusal(send(port, awaySmtp));
      expect(refused.responseCode).toBe(451);
      await appendAll(dovecot, Array.from({ length: AWAY_IMAP }, (_, i) => buildRequest(600 + i, { messageId: `<dbf-away-imap-${i}-${stamp}@acme.example>` })));
      // The IMAP intake fails its pass, or (its mailbox lease connection gone too) stops and stands by.
      // A lease lost to the terminations above may still be sitting out its pause when the relay
      // stops: then the intake is already stopped, and the lease's next try finds no database.
      await waitForOutput(service,
        /IMAP intake pass failed|temporary failure, will retry the batch later|mailbox lease lost|mailbox lease: cannot reach the database/, 60_000, mark);
      expect(await unseenIn(dovecot, 'INBOX')).toBe(AWAY_IMAP);
      // Back: the same process takes the waiting IMAP mail and the retried SMTP message.
      await relay.start();
      await sendAsMta(port, awaySmtp, counters);
      await sendAsMta(port, buildRequest(999, { messageId: `<dbf-after-${stamp}@acme.example>` }), counters);
      await sink.waitFor((m) => distinctAnswered(m).size >= TOTAL, 120_000);
      expect(service.child.exitCode, service.output().slice(-4000)).toBeNull();
      expect(service.output()).not.toMatch(/Unhandled 'error' event/);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }

    // Nothing lost, nothing twice: every message in exactly one case, every acknowledgement once.
    const ids = [...imapRaws, ...smtpRaws].map((r) => headerOf(r, 'Message-ID')!);
    ids.push(`<dbf-away-smtp-${stamp}@acme.example>`, `<dbf-after-${stamp}@acme.example>`);
    for (let i = 0; i < AWAY_IMAP; i++) ids.push(`<dbf-away-imap-${i}-${stamp}@acme.example>`);
    const acks = acknowledgements(sink.messages).filter((a) => (headerOf(a.raw, 'In-Reply-To') ?? '').startsWith('<dbf-'));
    const perMessage = new Map<string, number>();
    for (const a of acks) perMessage.set(headerOf(a.raw, 'In-Reply-To')!, (perMessage.get(headerOf(a.raw, 'In-Reply-To')!) ?? 0) + 1);
    for (const id of ids) expect(perMessage.get(id), `acknowledgements of ${id}`).toBe(1);
    expect(acks).toHaveLength(TOTAL);

    const rows = await tdb.db.selectFrom('messages').select(['message_id_header', 'case_id'])
      .where('direction', '=', 'inbound').where('message_id_header', 'like', '<dbf-%').execute();
    expect(rows).toHaveLength(TOTAL);
    expect(new Set(rows.map((r) => r.message_id_header)).size).toBe(TOTAL);
    expect(rows.every((r) => r.case_id !== null)).toBe(true);
    expect(new Set(rows.map((r) => r.case_id)).size).toBe(TOTAL);
    // IMAP: everything was handled and moved once the database was back.
    expect(await folderCount(dovecot, 'INBOX')).toBe(0);
    expect(await folderCount(dovecot, 'Processed')).toBe(IMAP_N + AWAY_IMAP);
  });
});
