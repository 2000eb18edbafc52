// Understanding runs in worker threads under a time budget: through the real SMTP intake and the
// real handler on the test database, a message over budget is quarantined with the reason while
// another client's message is answered meanwhile, and a 25 MB message of empty MIME parts (a shape
// that is slow to walk) does not stop the intake. The pool needs the compiled worker (npm run build).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/config.js';
import { understandingOptions } from '../../src/threading/understanding.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { SmtpIntake } from '../../src/ingest/smtp-intake.js';
import { UnderstandPool, UnderstandTimeoutError } from '../../src/ingest/understand-pool.js';
import { isTemporaryIntakeError } from '../../src/ingest/intake-errors.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { tempDir } from '../support/temp-dirs.js';

const HEAD = 'From: Bob Builder <bob@acme.example>\r\nTo: support@casemail.localhost\r\nSubject: Many parts\r\n'
  + 'Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="a"\r\n';

/** `--a` lines (empty parts) up to about `bytes`: every line opens a part with no content. */
function emptyParts(bytes: number, messageId: string): Buffer {
  const head = `${HEAD}Message-ID: ${messageId}\r\n\r\n`;
  const count = Math.floor((bytes - head.length - 7) / 5);
  return Buffer.from(`${head}${'--a\r\n'.repeat(count)}--a--\r\n`);
}

const SPIN = 'X-Test-Spin: 1';
const BUSY = 'X-Test-Busy-Ms';

/**
 * The real worker, except that a message carrying SPIN keeps its thread busy for a minute, and one
 * carrying `X-Test-Busy-Ms: n` for n ms. No real message is that slow to understand (the parser
 * is bounded: 20 MB shapes take well under a second), and a budget tight enough for a real one to
 * exceed (an earlier version: 50 ms against a 16 MiB attachment) also failed ordinary mail on a
 * loaded machine. The fault is injected where the real worker views a message's bytes
 * (Buffer.from of the bytes it was handed), after it has said which message it is on; the pool,
 * its timer, the batches, the termination and the replacement thread are the real ones.
 */
function faultyWorker(): URL {
  const real = pathToFileURL(path.resolve('dist/src/ingest/understand-worker.js')).href;
  const file = path.join(tempDir('casemail-spin-worker-'), 'worker.mjs');
  writeFileSync(file, `const from = Buffer.from;
Buffer.from = function (value, ...rest) {
  const b = from.call(Buffer, value, ...rest);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    const busy = /${BUSY}: (\\d+)/.exec(b.subarray(0, 2000).toString('latin1'));
    const end = Date.now() + (b.includes(${JSON.stringify(SPIN)}) ? 60000 : busy ? Number(busy[1]) : 0);
    while (Date.now() < end);
  }
  return b;
};
await import(${JSON.stringify(real)});
`);
  return pathToFileURL(file);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function send(port: number, raw: Buffer): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: 'bob@acme.example', to: ['support@casemail.localhost'] }, raw });
  return info.response;
}

describe(`understanding under a time budget on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  const running: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await tdb?.close();
  });

  /** The real handler and SMTP intake, with parsing through `pool`; `onParse` sees each message handed to it. */
  async function service(timeoutMs: number, onParse: (raw: Buffer) => void = () => {}, workerFile?: URL) {
    const settings = loadConfig({ env: {}, overrides: { limits: { understandTimeoutMs: timeoutMs } } }).settings;
    const pool = new UnderstandPool({ timeoutMs, workers: 2, understanding: understandingOptions(settings), ...(workerFile ? { workerFile } : {}) });
    const handler = new MessageHandler({
      db: tdb.db, settings, logger: silentLogger, clock: () => new Date(),
      understand: (raw) => {
        onParse(raw);
        return pool.understand(raw);
      },
    });
    const intake = new SmtpIntake({
      port: 0, ownAddresses: [settings.addresses.support], maxMessageBytes: settings.limits.maxMessageBytes, handler, logger: silentLogger,
    });
    const { port } = await intake.start();
    running.push({ stop: async () => {
      await intake.stop();
      await pool.close();
    } });
    return { pool, port };
  }

  it('quarantines a message over budget with the reason, replaces the thread, and answers the message behind it', { timeout: 120_000 }, async () => {
    const { pool, port } = await service(2000, () => {}, faultyWorker());
    const id = `<slow-${Date.now()}@acme.example>`;
    const reply = await send(port, buildMail({ messageId: id, subject: 'Never understood in time', headers: { 'X-Test-Spin': '1' } }));
    expect(reply).toMatch(/quarantined/);
    const row = await tdb.db.selectFrom('messages').select(['status', 'error']).where('id', '=', Number(/quarantined (\d+)/.exec(reply)![1]))
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('quarantined');
    expect(row.error).toMatch(/understanding exceeded 2000 ms/);
    expect(pool.replaced).toBe(1);

    const next = await send(port, buildMail({ subject: 'After the slow one' }));
    expect(next).toMatch(/OK: processed/);
  });

  it('keeps answering another client while a 25 MB message of empty parts is being understood', { timeout: 180_000 }, async () => {
    const bigStarted = deferred();
    const { port } = await service(2000, (raw) => {
      if (raw.length > 1_000_000) bigStarted.resolve();
    });
    const big = emptyParts(25_000_000, `<empty-parts-${Date.now()}@acme.example>`);
    const order: string[] = [];
    const bigReply = send(port, big).then((r) => {
      order.push('big');
      return r;
    });
    await bigStarted.promise;
    const smallReply = await send(port, buildMail({ from: 'Carol <carol@acme.example>', subject: 'Meanwhile' }));
    order.push('small');
    expect(smallReply).toMatch(/OK: processed/);
    // Understood within the budget, or quarantined at it: either way answered, and after the small one.
    expect(await bigReply).toMatch(/OK: (processed|quarantined)/);
    expect(order).toEqual(['small', 'big']);
  });
});

describe('understanding pool', () => {
  it('gives back what the in-process parser gives, attachments as Buffers (large ones handed over, not copied)', async () => {
    const pool = new UnderstandPool({ timeoutMs: 10_000, workers: 1 });
    try {
      const raw = Buffer.from('From: bob@acme.example\r\nTo: support@casemail.localhost\r\nSubject: Log\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n'
        + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the log.\r\n'
        + '--b\r\nContent-Type: application/octet-stream; name="log.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + `${Buffer.alloc(200_000, 3).toString('base64')}\r\n--b--\r\n`);
      const parsed = await pool.parse(raw);
      expect(Buffer.isBuffer(parsed.attachments[0]!.content)).toBe(true);
      expect(parsed.date).toBeInstanceOf(Date);
      expect(parsed).toEqual(await parseMessage(raw));
    } finally {
      await pool.close();
    }
  });

  it('fails only the message over budget in a batch: the others, before and after it, are answered', { timeout: 60_000 }, async () => {
    const pool = new UnderstandPool({ timeoutMs: 1000, workers: 1, workerFile: faultyWorker() });
    try {
      const mails = ['Before', 'Spinning', 'After', 'Last'].map((subject) => buildMail({ subject, ...(subject === 'Spinning' ? { headers: { 'X-Test-Spin': '1' } } : {}) }));
      // Queued in one turn of the event loop: one thread, so one batch of four.
      const outcomes = await Promise.allSettled(mails.map((raw) => pool.parse(raw)));
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(UnderstandTimeoutError);
      expect(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.subject] : []))).toEqual(['Before', 'After', 'Last']);
      expect(pool.replaced).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('gives each message of a batch its own budget', { timeout: 60_000 }, async () => {
    const pool = new UnderstandPool({ timeoutMs: 1500, workers: 1, workerFile: faultyWorker() });
    try {
      // Three messages of 700 ms each in one batch: 2.1 s for the batch, each well within 1.5 s.
      const mails = [1, 2, 3].map((i) => buildMail({ subject: `Slow ${i}`, headers: { [BUSY]: '700' } }));
      const parsed = await Promise.all(mails.map((raw) => pool.parse(raw)));
      expect(parsed.map((p) => p.subject)).toEqual(['Slow 1', 'Slow 2', 'Slow 3']);
      expect(pool.replaced).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('refuses as a temporary failure (retry later, not quarantine) when its threads cannot start', async () => {
    const dir = tempDir('casemail-broken-worker-');
    const file = path.join(dir, 'worker.mjs');
    writeFileSync(file, "throw new Error('broken install');\n");
    const pool = new UnderstandPool({ timeoutMs: 1000, workers: 1, workerFile: pathToFileURL(file) });
    try {
      const error = await pool.parse(Buffer.from('Subject: x\r\n\r\nx')).then(() => null, (e: unknown) => e);
      expect(isTemporaryIntakeError(error)).toBe(true);
      expect(String(error)).toMatch(/cannot start: broken install/);
    } finally {
      await pool.close();
    }
  });
});
