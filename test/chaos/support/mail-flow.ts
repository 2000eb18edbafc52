// What the crash and dependency-fault parts share: a sender that behaves like an MTA (a lost
// connection or a 4xx is tried again later with the same bytes; 250 ends it), a seeded random
// source, a spare port, waiting for a line in the child's output, and the counts every part
// reports (lost, duplicate cases, missing and duplicate acknowledgements).
// I/O: SMTP to the service's intake, the test database (counts), loopback sockets.
import { createServer } from 'node:net';
import nodemailer from 'nodemailer';
import type { Db } from '../../../src/db/database.js';
import type { SinkMessage } from '../../support/smtp-sink.js';
import { acknowledgements, headerOf } from '../../support/service-harness.js';
export { waitForOutput } from '../../support/service-harness.js';

export const CUSTOMER = 'bob@acme.example';
export const SUPPORT = 'support@casemail.localhost';

/** A seeded PRNG (mulberry32): the run prints its seed, so a failing schedule can be replayed with CHAOS_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function chaosSeed(): number {
  const fromEnv = Number(process.env.CHAOS_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}

/** A port nobody listens on right now (the service is started on it, so it keeps it across restarts). */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface MtaCounters {
  /** Attempts that ended in a 4xx or a lost connection (tried again). */
  temporary: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hands `raw` to the intake like an MTA: connection errors and 4xx replies are retried with the
 * same bytes after a short pause (an MTA's queue, compressed) until `deadline`; a 5xx is an error.
 */
export async function sendLikeMta(port: number, raw: Buffer, counters: MtaCounters, deadline: number): Promise<void> {
  for (;;) {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 30_000 });
    try {
      await transport.sendMail({ envelope: { from: CUSTOMER, to: [SUPPORT] }, raw });
      return;
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      if (code !== undefined && code >= 500) throw error;
      counters.temporary += 1;
      if (Date.now() > deadline) throw new Error(`MTA gave up on ${headerOf(raw, 'Message-ID')}: ${(error as Error).message}`);
      await pause(100);
    } finally {
      transport.close();
    }
  }
}

/** Sends every message with `senders` MTAs in parallel; resolves when all were accepted. */
export async function sendAllLikeMtas(port: number, raws: readonly Buffer[], senders: number, counters: MtaCounters, deadline: number): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < raws.length) await sendLikeMta(port, raws[next++]!, counters, deadline);
  };
  await Promise.all(Array.from({ length: senders }, sender));
}


/** Customer Message-IDs answered at the sink, among `ids`. */
export function answeredAmong(messages: readonly SinkMessage[], ids: ReadonlySet<string>): number {
  const answered = new Set<string>();
  for (const a of acknowledgements(messages)) {
    const to = headerOf(a.raw, 'In-Reply-To') ?? '';
    if (ids.has(to)) answered.add(to);
  }
  return answered.size;
}

export interface FlowCounts {
  sent: number;
  /** Sent Message-IDs with no inbound row in a case, held or quarantined. */
  lost: number;
  /** Cases beyond one per request. */
  duplicateCases: number;
  /** Sent messages without an acknowledgement at the sink. */
  acknowledgementsMissing: number;
  /** Acknowledgements beyond one per message. */
  duplicateAcknowledgements: number;
  /** Duplicate acknowledgements that carry a Message-ID other than the first one's (must be 0). */
  duplicatesWithOtherId: number;
}

/**
 * The counts of one part (or phase). `ids` are the customer Message-IDs sent, each a one-issue
 * request: a request stored twice into two cases shows as more cases than requests with a case.
 */
export async function countFlow(db: Db, ids: readonly string[], sinkMessages: readonly SinkMessage[]): Promise<FlowCounts> {
  const wanted = new Set(ids);
  const rows = await db.selectFrom('messages').select(['message_id_header', 'case_id', 'status'])
    .where('direction', '=', 'inbound').execute();
  const kept = new Set<string>();
  const withCase = new Set<string>();
  const caseIds = new Set<number>();
  for (const r of rows) {
    if (!r.message_id_header || !wanted.has(r.message_id_header)) continue;
    if (r.case_id !== null) {
      withCase.add(r.message_id_header);
      caseIds.add(r.case_id);
    }
    if (r.case_id !== null || r.status === 'held' || r.status === 'quarantined') kept.add(r.message_id_header);
  }

  const ackIds = new Map<string, string[]>();
  for (const a of acknowledgements(sinkMessages)) {
    const to = headerOf(a.raw, 'In-Reply-To') ?? '';
    if (!wanted.has(to)) continue;
    const list = ackIds.get(to) ?? [];
    list.push(headerOf(a.raw, 'Message-ID') ?? '');
    ackIds.set(to, list);
  }
  let duplicateAcknowledgements = 0;
  let duplicatesWithOtherId = 0;
  for (const list of ackIds.values()) {
    duplicateAcknowledgements += list.length - 1;
    duplicatesWithOtherId += list.filter((id) => id !== list[0]).length;
  }
  return {
    sent: wanted.size,
    lost: wanted.size - kept.size,
    duplicateCases: caseIds.size - withCase.size,
    acknowledgementsMissing: wanted.size - ackIds.size,
    duplicateAcknowledgements,
    duplicatesWithOtherId,
  };
}
