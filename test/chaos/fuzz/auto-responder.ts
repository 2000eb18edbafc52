// A badly behaved auto-responder for the chaos abuse part: it answers every mail the sink gets
// for its addresses, ignoring Auto-Submitted and precedence, back into the service's SMTP intake.
// 'threaded' answers quote the subject and In-Reply-To; 'fresh' ones carry neither (each looks
// like a new request, the worst case for a loop).
// Counts what it received and sent so the test can bound the loop. I/O: loopback SMTP.
import type { SinkMessage } from '../../support/smtp-sink.js';
import { headerOf, sendToIntake } from '../../support/service-harness.js';

export interface AutoResponder {
  /** Give every sink message here (the sink's onMessage). */
  onMessage(message: SinkMessage): void;
  /** Mails the responder got, per address. */
  received(address: string): number;
  sent(): number;
  /** Answers still on their way. */
  inFlight(): number;
  /** Errors from sending answers (the intake refusing one is an error here). */
  errors(): string[];
}

export function startAutoResponder(modes: Readonly<Record<string, 'threaded' | 'fresh'>>, intakePort: () => number, support: string): AutoResponder {
  const addresses = Object.keys(modes);
  const got = new Map<string, number>();
  let sent = 0;
  let inFlight = 0;
  const errors: string[] = [];
  return {
    onMessage(message) {
      for (const address of addresses.filter((a) => message.rcptTo.includes(a))) {
        got.set(address, (got.get(address) ?? 0) + 1);
        const id = modes[address] === 'threaded' ? headerOf(message.raw, 'Message-ID') ?? '' : '';
        const subject = modes[address] === 'threaded' ? `Out of office: ${headerOf(message.raw, 'Subject') ?? ''}` : `Away until Monday (${got.get(address)})`;
        const raw = Buffer.from([
          `From: Out Of Office <${address}>`, `To: ${support}`, `Subject: ${subject}`,
          `Message-ID: <ooo-${sent + inFlight}-${Date.now()}-${Math.random().toString(36).slice(2)}@${address.split('@')[1]}>`,
          ...(id ? [`In-Reply-To: ${id}`, `References: ${id}`] : []),
          'Date: Mon, 30 Nov 2026 09:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '',
          'I am away until next week and will read your mail when I am back.', '',
        ].join('\r\n'));
        inFlight += 1;
        sendToIntake(intakePort(), raw, { from: address, to: [support] }).then(
          () => (sent += 1),
          (err: Error) => errors.push(err.message),
        ).finally(() => (inFlight -= 1));
      }
    },
    received: (address) => got.get(address) ?? 0,
    sent: () => sent,
    inFlight: () => inFlight,
    errors: () => [...errors],
  };
}
