// Feeding the service's SMTP intake the way an MTA would, for the chaos parts: a few pooled
// connections in parallel, a 4xx retried a bounded number of times, every reply kept. Also an
// SMTP NOOP probe that says whether the intake still answers. I/O: loopback SMTP only.
import net from 'node:net';
import nodemailer from 'nodemailer';

export type FeedOutcome =
  | { kind: 'accepted'; status: string; rowId: number; reply: string }
  | { kind: 'refused'; code: number; reply: string }
  | { kind: 'failed'; reply: string };

export type Envelope = { from: string; to: string[] };

/** Sends every raw message (index order kept in the result) over `connections` pooled connections. */
export async function feedSmtp(port: number, raws: readonly Buffer[], envelope: (i: number) => Envelope, connections = 4, retries = 5): Promise<FeedOutcome[]> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: connections, maxMessages: Infinity });
  const out: FeedOutcome[] = new Array<FeedOutcome>(raws.length);
  let next = 0;
  const one = async (i: number): Promise<FeedOutcome> => {
    let last: FeedOutcome = { kind: 'failed', reply: 'not sent' };
    for (let attempt = 0; attempt <= retries; attempt++) {
      try {
        const reply = String((await transport.sendMail({ envelope: envelope(i), raw: raws[i]! })).response);
        const m = /OK: (\w+) (\d+)/.exec(reply);
        return m ? { kind: 'accepted', status: m[1]!, rowId: Number(m[2]), reply } : { kind: 'failed', reply };
      } catch (err) {
        const e = err as { responseCode?: number; response?: string; message: string };
        if (e.responseCode && e.responseCode >= 500) return { kind: 'refused', code: e.responseCode, reply: e.response ?? e.message };
        last = { kind: 'failed', reply: e.response ?? e.message };
      }
    }
    return last;
  };
  const lane = async (): Promise<void> => {
    while (next < raws.length) {
      const i = next++;
      out[i] = await one(i);
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, lane));
  } finally {
    transport.close();
  }
  return out;
}

/** Connects, reads the greeting, sends NOOP; resolves with the NOOP reply line (rejects on no answer within 10 s). */
export function smtpNoop(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    let greeted = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no SMTP answer on port ${port} within 10 s; got ${JSON.stringify(buffer)}`));
    }, 10_000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const lines = buffer.split('\r\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!greeted && /^220 /.test(line)) {
          greeted = true;
          socket.write('NOOP\r\n');
        } else if (greeted && /^\d{3} /.test(line)) {
          clearTimeout(timer);
          socket.end('QUIT\r\n');
          resolve(line);
        }
      }
    });
  });
}
