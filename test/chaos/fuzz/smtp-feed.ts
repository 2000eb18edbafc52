// Feeding the service's SMTP intake the way an MTA would, for the chaos parts: a small SMTP
// client that sends the bytes as they are (only dot-stuffed; nodemailer would turn a bare CR
// into CRLF, which hides exactly the forgeries under test), a few connections in parallel, a 4xx
// retried a bounded number of times, every reply kept. Also an SMTP NOOP probe.
// I/O: loopback SMTP only.
import net from 'node:net';

export type FeedOutcome =
  | { kind: 'accepted'; status: string; rowId: number; reply: string }
  | { kind: 'refused'; code: number; reply: string }
  | { kind: 'failed'; reply: string };

export type Envelope = { from: string; to: string[] };

interface Reply {
  code: number;
  text: string;
}

/** One SMTP connection, one command at a time; replies are read whole (multi-line ones too). */
export class RawSmtpClient {
  private buffer = '';
  private lines: string[] = [];
  private waiting: ((reply: Reply) => void) | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static async connect(port: number): Promise<RawSmtpClient> {
    const socket = net.connect(port, '127.0.0.1');
    const client = new RawSmtpClient(socket);
    const greeting = await client.read();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
    const ehlo = await client.command('EHLO chaos.localhost\r\n');
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.text}`);
    return client;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiting;
    this.waiting = null;
    w?.({ code: 0, text: err.message });
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    let at: number;
    while ((at = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      this.lines.push(line);
      if (/^\d{3} /.test(line) || !/^\d{3}-/.test(line)) {
        const text = this.lines.join('\n');
        this.lines = [];
        const w = this.waiting;
        this.waiting = null;
        w?.({ code: Number(line.slice(0, 3)) || 0, text });
      }
    }
  }

  private read(): Promise<Reply> {
    if (this.failure) return Promise.resolve({ code: 0, text: this.failure.message });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private command(text: string | Buffer): Promise<Reply> {
    const reply = this.read();
    this.socket.write(text);
    return reply;
  }

  /** One transaction; resolves with the final reply (the first non-2xx/3xx one if the transaction stopped early). */
  async send(raw: Buffer, envelope: Envelope): Promise<Reply> {
    const mail = await this.command(`MAIL FROM:<${envelope.from}>\r\n`);
    if (mail.code !== 250) return this.reset(mail);
    let anyRcpt: Reply | null = null;
    let lastBad: Reply | null = null;
    for (const to of envelope.to) {
      const r = await this.command(`RCPT TO:<${to}>\r\n`);
      if (r.code === 250) anyRcpt = r;
      else lastBad = r;
    }
    if (!anyRcpt) return this.reset(lastBad!);
    const data = await this.command('DATA\r\n');
    if (data.code !== 354) return this.reset(data);
    return this.command(Buffer.concat([dotStuffed(raw), Buffer.from(raw.length && raw.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n')]));
  }

  private async reset(reply: Reply): Promise<Reply> {
    if (reply.code !== 0) await this.command('RSET\r\n');
    return reply;
  }

  get broken(): boolean {
    return this.failure !== null;
  }

  close(): void {
    if (!this.failure) this.socket.end('QUIT\r\n');
    this.socket.destroy();
  }
}

/** A '.' starting a line (after LF, as smtp-server reads lines) is doubled. */
function dotStuffed(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x2e && (i === 0 || raw[i - 1] === 0x0a)) {
      parts.push(raw.subarray(from, i + 1));
      from = i; // the dot goes out twice
    }
  }
  parts.push(raw.subarray(from));
  return Buffer.concat(parts);
}

/** One message over a fresh connection, as an MTA hands it over; resolves with the reply line(s). */
export async function sendRaw(port: number, raw: Buffer, envelope: Envelope): Promise<Reply> {
  const client = await RawSmtpClient.connect(port);
  try {
    return await client.send(raw, envelope);
  } finally {
    client.close();
  }
}

/** Sends every raw message (index order kept in the result) over `connections` connections in parallel. */
export async function feedSmtp(port: number, raws: readonly Buffer[], envelope: (i: number) => Envelope, connections = 4, retries = 5): Promise<FeedOutcome[]> {
  const out: FeedOutcome[] = new Array<FeedOutcome>(raws.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    let client: RawSmtpClient | null = null;
    try {
      while (next < raws.length) {
        const i = next++;
        let outcome: FeedOutcome = { kind: 'failed', reply: 'not sent' };
        for (let attempt = 0; attempt <= retries; attempt++) {
          if (!client || client.broken) {
            client?.close();
            client = await RawSmtpClient.connect(port);
          }
          const reply = await client.send(raws[i]!, envelope(i));
          const ok = /OK: (\w+) (\d+)/.exec(reply.text);
          if (reply.code === 250 && ok) {
            outcome = { kind: 'accepted', status: ok[1]!, rowId: Number(ok[2]), reply: reply.text };
            break;
          }
          if (reply.code >= 500) {
            outcome = { kind: 'refused', code: reply.code, reply: reply.text };
            break;
          }
          outcome = { kind: 'failed', reply: reply.text };
        }
        out[i] = outcome;
      }
    } finally {
      client?.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, lane));
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
