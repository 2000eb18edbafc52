// A bare SMTP client for latency: one transaction on its own connection, noting the instant the
// last byte of DATA (the terminating ".") was written, which nodemailer does not expose (its
// promise settles on the server's reply, after the service committed). I/O: one TCP connection.
import { connect } from 'node:net';

export interface SmtpResult {
  /** performance.now() when the final "." was written. */
  dataEnd: number;
  /** The server's reply code to the message. */
  code: number;
}

const REPLY = /^(?:\d{3}-.*\r\n)*(\d{3}) .*\r\n/;

/** Sends `raw` (no line may start with "."; the bench's messages have none). */
export function sendTimed(port: number, raw: Buffer, from: string, to: string): Promise<SmtpResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const steps = ['greeting', 'ehlo', 'mail', 'rcpt', 'data', 'end'] as const;
    let step = 0;
    let buffer = '';
    let dataEnd = 0;
    socket.setEncoding('latin1');
    socket.setTimeout(120_000, () => socket.destroy(new Error('SMTP: no answer within 120 s')));
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let m = REPLY.exec(buffer); m; m = REPLY.exec(buffer)) {
        buffer = buffer.slice(m[0].length);
        const code = Number(m[1]);
        const at = steps[step++];
        if ((at === 'data' ? code !== 354 : code >= 400) || at === 'end') {
          socket.end('QUIT\r\n');
          resolve({ dataEnd, code });
          return;
        }
        if (at === 'greeting') socket.write('EHLO bench.example\r\n');
        else if (at === 'ehlo') socket.write(`MAIL FROM:<${from}>\r\n`);
        else if (at === 'mail') socket.write(`RCPT TO:<${to}>\r\n`);
        else if (at === 'rcpt') socket.write('DATA\r\n');
        else if (at === 'data') {
          socket.write(raw);
          socket.write(raw.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n', () => {
            dataEnd = performance.now();
          });
        }
      }
    });
  });
}
