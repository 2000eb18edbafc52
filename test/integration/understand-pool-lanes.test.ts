// How the understanding pool hands a message's bytes to its threads: bytes in shared memory (the
// SMTP intake's large messages) are read by the thread where they are, other bytes are copied once
// and the copy handed over, and either way the caller's Buffer stays whole for storing. Large
// messages are understood by the first thread only, one at a time. A stand-in worker reports what
// it was given and by which thread; the real worker's results are covered in understand-budget.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { UnderstandPool } from '../../src/ingest/understand-pool.js';
import { joinMessage, SHARED_MIN_BYTES } from '../../src/ingest/smtp-intake.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { tempDir } from '../support/temp-dirs.js';

/** Replies to 'parse' with what it received (and with how many others, in one batch), instead of a ParsedMessage. */
const REPORTING_WORKER = `
import { parentPort, threadId } from 'node:worker_threads';
parentPort.on('message', (request) => {
  const results = request.raws.map((raw) => ({ ok: true, result: {
    attachments: [], threadId, batch: request.id, batchSize: request.raws.length,
    shared: raw.buffer instanceof SharedArrayBuffer, bytes: raw.byteLength, first: raw[0], last: raw[raw.byteLength - 1],
  } }));
  parentPort.postMessage({ id: request.id, results });
});
parentPort.postMessage({ ready: true });
`;

interface Report { threadId: number; batch: number; batchSize: number; shared: boolean; bytes: number; first: number; last: number }

const pools: UnderstandPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function reportingPool(options: { workers: number; largeBytes?: number; beforeLargeMessage?: () => void }): UnderstandPool {
  const file = path.join(tempDir('casemail-reporting-worker-'), 'worker.mjs');
  writeFileSync(file, REPORTING_WORKER);
  const pool = new UnderstandPool({ timeoutMs: 30_000, workerFile: pathToFileURL(file), ...options });
  pools.push(pool);
  return pool;
}

const report = async (pool: UnderstandPool, raw: Buffer) => (await pool.parse(raw)) as unknown as Report;

function bytes(n: number, fill: number): Buffer {
  const b = Buffer.alloc(n, fill);
  b[0] = 1;
  b[n - 1] = 2;
  return b;
}

describe('understanding pool: the bytes a thread gets', () => {
  it('shares bytes held in shared memory and copies others, and the caller\'s Buffer stays whole either way', async () => {
    const pool = reportingPool({ workers: 1 });
    const large = joinMessage([Buffer.from('Return-Path: <a@b>\r\n'), bytes(SHARED_MIN_BYTES * 2, 7)]);
    expect(large.buffer).toBeInstanceOf(SharedArrayBuffer);
    const plain = bytes(SHARED_MIN_BYTES * 2, 9);

    const a = await report(pool, large);
    expect(a).toMatchObject({ shared: true, bytes: large.length, first: large[0], last: 2 });
    const b = await report(pool, plain);
    expect(b).toMatchObject({ shared: false, bytes: plain.length, first: 1, last: 2 });
    // Neither was detached or changed: the handler still stores these bytes.
    expect(large.length).toBe(SHARED_MIN_BYTES * 2 + 'Return-Path: <a@b>\r\n'.length);
    expect(large.subarray(0, 13).toString()).toBe('Return-Path: ');
    expect(plain.length).toBe(SHARED_MIN_BYTES * 2);
  });

  it('joins a small message into an ordinary Buffer and a large one into shared memory, the same bytes', () => {
    const parts = [Buffer.from('Return-Path: <>\r\n'), Buffer.from('Subject: x\r\n\r\n'), Buffer.alloc(10, 65)];
    const small = joinMessage(parts);
    expect(small.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(small.equals(Buffer.concat(parts))).toBe(true);
    const big = [...parts, Buffer.alloc(SHARED_MIN_BYTES, 66)];
    expect(joinMessage(big).equals(Buffer.concat(big))).toBe(true);
  });

  it('understands large messages with one thread only, small ones beside them', async () => {
    const pool = reportingPool({ workers: 2, largeBytes: 100_000 });
    // Everything queued at once, large first: without the lane both threads would take a large one.
    const large = Array.from({ length: 4 }, (_, i) => bytes(150_000 + i, 3));
    const small = Array.from({ length: 6 }, (_, i) => bytes(1_000 + i, 4));
    const [bigReports, smallReports] = await Promise.all([
      Promise.all(large.map((raw) => report(pool, raw))),
      Promise.all(small.map((raw) => report(pool, raw))),
    ]);
    expect(bigReports.map((r) => r.bytes)).toEqual(large.map((r) => r.length));
    expect(new Set(bigReports.map((r) => r.threadId)).size).toBe(1);
    expect(smallReports.map((r) => r.bytes)).toEqual(small.map((r) => r.length));
  });
});

describe('understanding pool: memory before a large message', () => {
  it('runs beforeLargeMessage (the full collection, by default) before handing a large message over, not before a small one', async () => {
    const seen: number[] = [];
    let pending: number | null = null;
    const pool = reportingPool({ workers: 1, largeBytes: 100_000, beforeLargeMessage: () => seen.push(pending ?? -1) });
    await pool.whenReady();
    pending = 1_000;
    await report(pool, bytes(1_000, 4));
    pending = 150_000;
    const r = await report(pool, bytes(150_000, 4));
    expect(r.bytes).toBe(150_000);
    expect(seen).toEqual([150_000]);
  });
});

describe('understanding pool: batches', () => {
  it('hands messages queued together to the threads in batches, shared among them, each answered with its own result', async () => {
    const pool = reportingPool({ workers: 2 });
    await pool.whenReady();
    const small = Array.from({ length: 20 }, (_, i) => bytes(1_000 + i, 4));
    const reports = await Promise.all(small.map((raw) => report(pool, raw)));
    expect(reports.map((r) => r.bytes)).toEqual(small.map((r) => r.length));
    // 20 queued in one turn, two idle threads: a batch of 10 each.
    expect(new Set(reports.map((r) => r.batch)).size).toBe(2);
    expect(new Set(reports.map((r) => r.threadId)).size).toBe(2);
    expect(reports.map((r) => r.batchSize)).toEqual(small.map(() => 10));
  });

  it('keeps a batch to 16 messages and about 1 MiB', async () => {
    const pool = reportingPool({ workers: 1 });
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => report(pool, bytes(1_000 + i, 4))));
    expect(Math.max(...many.map((r) => r.batchSize))).toBe(16);
    const mid = await Promise.all(Array.from({ length: 6 }, (_, i) => report(pool, bytes(300_000 + i, 5))));
    // 300 KB each: three fit in 1 MiB, the fourth starts the next batch.
    expect(mid.map((r) => r.batchSize)).toEqual([3, 3, 3, 3, 3, 3]);
  });
});

describe('understanding pool with the real worker', () => {
  it('parses a message held in shared memory as it parses the same bytes in-process', async () => {
    const pool = new UnderstandPool({ timeoutMs: 10_000, workers: 1 });
    pools.push(pool);
    const text = 'From: bob@acme.example\r\nTo: support@casemail.localhost\r\nSubject: Log\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n'
      + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the log.\r\n'
      + '--b\r\nContent-Type: application/octet-stream; name="log.bin"\r\n\r\n'
      + `${'0123456789abcdef'.repeat(20_000)}\r\n--b--\r\n`;
    const raw = joinMessage([Buffer.from(text)]);
    expect(raw.buffer).toBeInstanceOf(SharedArrayBuffer);
    const parsed = await pool.parse(raw);
    expect(Buffer.isBuffer(parsed.attachments[0]!.content)).toBe(true);
    expect(parsed).toEqual(await parseMessage(Buffer.from(text)));
    expect(raw.toString()).toBe(text);
  });
});
