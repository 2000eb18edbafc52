// The bench's SMTP sink: a real smtp-server on 127.0.0.1 (as test/support/smtp-sink.ts, trimmed)
// that counts accepted messages and notes when each arrived and which message it answers
// (In-Reply-To), so acknowledgements can be matched to the requests that caused them.
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { onCleanup } from './cleanup.js';

export interface Arrival {
  at: number;
  inReplyTo: string | null;
  subject: string;
}

export interface BenchSink {
  port: number;
  arrivals: Arrival[];
  /** Resolves once `count` messages arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

function header(raw: string, name: string): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r\\n[ \\t].*)*)`, 'im').exec(end < 0 ? raw : raw.slice(0, end));
  return m ? m[1]!.replace(/\r\n[ \t]+/g, ' ').trim() : null;
}

export async function startSink(): Promise<BenchSink> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const arrivals: Arrival[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'], authOptional: true, disableReverseLookup: true, logger: false, size: 64 * 1024 * 1024,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => {
        const raw = Buffer.concat(chunks).toString('latin1');
        arrivals.push({ at: performance.now(), inReplyTo: header(raw, 'In-Reply-To'), subject: header(raw, 'Subject') ?? '' });
        callback(null);
        events.emit('message');
      });
    },
  });
  server.on('error', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const port = (server.server.address() as AddressInfo).port;
  const stop = onCleanup(`smtp sink ${port}`, () => new Promise<void>((resolve) => {
    for (const c of server.connections) c.close();
    server.close(() => resolve());
  }));
  return {
    port, arrivals, stop,
    waitFor(count, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (arrivals.length < count) return;
          clearTimeout(timer);
          events.off('message', check);
          resolve();
        };
        const timer = setTimeout(() => {
          events.off('message', check);
          reject(new Error(`SMTP sink: ${arrivals.length} of ${count} messages after ${timeoutMs / 1000} s`));
        }, timeoutMs);
        events.on('message', check);
        check();
      });
    },
  };
}
