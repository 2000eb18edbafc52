// The limits of the parts, measured apart from the service: the parse-only rate of each mix
// (parseMessage on the main thread), PostgreSQL's rate for a case-sized transaction written by a
// bare pg script (8 clients), Dovecot's bulk FETCH of messages with their source, and the SMTP
// sink's acceptance rate from concurrent nodemailer clients. I/O: the database server, Dovecot,
// a local SMTP server.
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { parseMessage } from '../src/ingest/parse-message.js';
import { createDatabase, type BenchServer } from './bench-db.js';
import { startSink } from './bench-sink.js';
import { appendAll, imapClient, startDovecot } from './dovecot.js';
import { benchDirectory, MIX_LABEL, mixMessages, plainRequest, type MixName } from './mail-mixes.js';
import type { AddRow } from './table.js';

const CLIENTS = 8;

export async function parseRates(add: AddRow, n: number): Promise<Record<MixName, number>> {
  const rates = {} as Record<MixName, number>;
  const mixes = ['plain', 'realistic', 'multi-issue'] as const;
  const all = mixes.map((mix) => mixMessages(mix, n, Date.now()));
  // Warm up on every mix first, so the first one measured does not pay for the compiler alone.
  for (const raws of all) for (const raw of raws.slice(0, 200)) await parseMessage(raw);
  for (const [m, mix] of mixes.entries()) {
    const raws = all[m]!;
    const t = performance.now();
    for (const raw of raws) await parseMessage(raw);
    rates[mix] = n / ((performance.now() - t) / 1000);
    add({ group: 'limits', name: `parse only: ${MIX_LABEL[mix]}`, value: rates[mix], unit: 'msg/s', note: `${n} messages, one thread` });
  }
  return rates;
}

/** BEGIN; raw message (~5 KB), case, message, 2 outbox rows, an event; COMMIT — from `CLIENTS` bare pg clients. */
export async function postgresTransactionRate(add: AddRow, server: BenchServer, n: number): Promise<void> {
  const database = await createDatabase(server, 'limits_pg');
  const handle = await openDatabase({ databaseUrl: database.url, poolSize: 2 });
  try {
    await migrateToLatest(handle.db);
    await importDirectory(handle.db, benchDirectory());
    await handle.close();
    const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: database.url });
      await c.connect();
      return c;
    }));
    const { rows: [who] } = await clients[0]!.query<{ org: string; contact: string }>('select organisation_id as org, id as contact from contacts order by id limit 1');
    const stamp = Date.now();
    let next = 0;
    const one = async (c: pg.Client, i: number) => {
      const raw = plainRequest(i, stamp, 'pg');
      const sha = createHash('sha256').update(raw).digest('hex');
      await c.query('begin');
      await c.query('insert into raw_messages (sha256, size, bytes) values ($1, $2, $3)', [sha, raw.length, raw]);
      const { rows: [k] } = await c.query<{ id: string }>(`insert into cases (organisation_id, requester_contact_id, subject, severity, severity_source, state, opened_at, first_response_due_at, state_entered_at, updated_at)
        values ($1, $2, $3, 2, 'suggested', 'new', now(), now() + interval '8 hours', now(), now()) returning id`, [who!.org, who!.contact, `Export problem ${i}`]);
      const { rows: [m] } = await c.query<{ id: string }>(`insert into messages (direction, case_id, raw_sha256, content_hash, message_id_header, from_address, subject, sent_at, received_at, source, kind, sender_role, status, visible_text)
        values ('inbound', $1, $2, $3, $4, 'contact0@acme.example', $5, now(), now(), 'imap', 'human', 'customer', 'processed', $6) returning id`,
      [k!.id, sha, sha, `<pg-${stamp}-${i}@acme.example>`, `Export problem ${i}`, raw.subarray(raw.indexOf('\r\n\r\n') + 4).toString()]);
      for (const kind of ['acknowledgement', 'new-case-notification']) {
        await c.query(`insert into outbox (cause_key, kind, case_id, to_addresses, message_id_header, subject, template, data, next_attempt_at)
          values ($1, $2, $3, $4, $5, $6, $2, '{}'::jsonb, now())`, [`${kind}:${m!.id}`, kind, k!.id, JSON.stringify(['contact0@acme.example']), `<${kind}-${stamp}-${i}@casemail.localhost>`, `Export problem ${i}`]);
      }
      await c.query(`insert into case_events (case_id, message_id, at, actor, kind) values ($1, $2, now(), 'contact0@acme.example', 'opened')`, [k!.id, m!.id]);
      await c.query('commit');
    };
    const t = performance.now();
    await Promise.all(clients.map(async (c) => {
      for (let i = next++; i < n; i = next++) await one(c, i);
    }));
    const seconds = (performance.now() - t) / 1000;
    await Promise.all(clients.map((c) => c.end()));
    add({ group: 'limits', name: `${server.kind === 'postgres' ? 'PostgreSQL 15' : 'embedded PostgreSQL'}: case-sized transaction, bare pg script`, value: n / seconds, unit: 'tx/s', note: `${n} tx from ${CLIENTS} clients: raw 5 KB + case + message + 2 outbox + event` });
  } finally {
    await database.drop();
  }
}

export async function dovecotFetchRate(add: AddRow, n: number): Promise<void> {
  const dovecot = await startDovecot();
  if (!dovecot) throw new Error('Dovecot is not installed');
  try {
    await appendAll(dovecot, Array.from({ length: n }, (_, i) => plainRequest(i, Date.now(), 'fetch')));
    const client = await imapClient(dovecot);
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        let bytes = 0;
        let count = 0;
        const t = performance.now();
        for await (const m of client.fetch('1:*', { uid: true, source: true })) {
          bytes += m.source?.length ?? 0;
          count++;
        }
        const seconds = (performance.now() - t) / 1000;
        if (count !== n) throw new Error(`fetched ${count} of ${n}`);
        add({ group: 'limits', name: 'Dovecot: bulk FETCH with source (imapflow)', value: n / seconds, unit: 'msg/s', note: `${n} × ${(bytes / n / 1000).toFixed(1)} KB in one FETCH` });
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  } finally {
    await dovecot.stop();
  }
}

export async function sinkAcceptanceRate(add: AddRow, n: number): Promise<void> {
  const sink = await startSink();
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, pool: true, maxConnections: CLIENTS, maxMessages: Infinity });
    const raws = Array.from({ length: n }, (_, i) => plainRequest(i, Date.now(), 'sink'));
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < n; i = next++) await transport.sendMail({ envelope: { from: 'bench@acme.example', to: ['someone@acme.example'] }, raw: raws[i]! });
    }));
    const seconds = (performance.now() - t) / 1000;
    transport.close();
    add({ group: 'limits', name: 'SMTP sink: acceptance (nodemailer → smtp-server)', value: n / seconds, unit: 'msg/s', note: `${n} × 5 KB from ${CLIENTS} pooled clients` });
  } finally {
    await sink.stop();
  }
}
