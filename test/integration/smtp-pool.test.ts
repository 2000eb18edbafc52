// The outbox's SMTP connection pool against a real smtp-server on loopback: how many connections it
// opens, what it does when the server refuses, closes or wants a login, and that every send settles.
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpPool } from '../../src/notify/smtp-pool.js';

interface Server {
  port: number;
  received: { to: string[]; raw: Buffer }[];
  /** Sessions opened so far, and the most open at one time. */
  opened: number;
  mostAtOnce: number;
  /** Sessions ended so far; 'closed' is emitted on each. */
  closed: number;
  events: EventEmitter;
  closeAll(): Promise<void>;
  smtp: SMTPServer | null;
  stop(): Promise<void>;
}

const servers: Server[] = [];
const pools: SmtpPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function startServer(extra: Partial<SMTPServerOptions> = {}): Promise<Server> {
  let open = 0;
  const s: Server = {
    smtp: null, port: 0, received: [], opened: 0, mostAtOnce: 0, closed: 0, events: new EventEmitter(),
    async closeAll() {
      // Resolves once smtp-server's onClose saw every session end.
      const until = s.closed + server.connections.size;
      const ended = new Promise<void>((resolve) => {
        const check = () => {
          if (s.closed < until) return;
          s.events.off('closed', check);
          resolve();
        };
        s.events.on('closed', check);
      });
      for (const c of server.connections) c.close();
      await ended;
    },
    stop: () => new Promise<void>((resolve) => {
      for (const c of server.connections) c.close();
      server.close(() => resolve());
    }),
  };
  const server = new SMTPServer({
    // The built-in STARTTLS certificate has expired; plain SMTP on loopback.
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    onConnect(_session, callback) {
      s.opened += 1;
      open += 1;
      s.mostAtOnce = Math.max(s.mostAtOnce, open);
      callback();
    },
    onClose() {
      open -= 1;
      s.closed += 1;
      s.events.emit('closed');
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => {
        s.received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        callback(null);
      });
    },
    ...extra,
  });
  s.smtp = server;
  server.on('error', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  s.port = (server.server.address() as AddressInfo).port;
  servers.push(s);
  return s;
}

/** The sessions smtp-server has open, with their ids (session.id is the connection's id). */
function liveConnections(s: Server): { id: string; close(): void }[] {
  return [...(s.smtp?.connections ?? [])] as unknown as { id: string; close(): void }[];
}

function pool(url: string, extra: Partial<ConstructorParameters<typeof SmtpPool>[0]> = {}): SmtpPool {
  const p = new SmtpPool({ url, maxConnections: 2, maxMessages: 1000, connectionTimeoutMs: 5000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000, ...extra });
  pools.push(p);
  return p;
}

const mail = (i: number) => Buffer.from(`From: support@casemail.test\r\nTo: a@customer.test\r\nSubject: ${i}\r\n\r\nline one\r\n.a line that starts with a dot\r\n`);
const envelope = { from: 'support@casemail.test', to: ['a@customer.test'] };

describe('SmtpPool', () => {
  it('carries the messages byte for byte over at most maxConnections, and replaces a connection after maxMessages', async () => {
    const server = await startServer();
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 2, maxMessages: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => p.send(envelope, mail(i))));
    expect(results.every((r) => /^250/.test(r.response) && r.rejected.length === 0)).toBe(true);
    expect(server.received.map((m) => m.raw.toString()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => mail(i).toString()).sort());
    expect(server.mostAtOnce).toBeLessThanOrEqual(2);
    expect(server.opened).toBe(4); // 10 messages, 3 per connection
  });

  it('sends the next message on a new connection when the server closed the idle one, without an error', async () => {
    const server = await startServer();
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    await p.send(envelope, mail(1));
    await server.closeAll();
    await p.send(envelope, mail(2));
    expect(server.received).toHaveLength(2);
    expect(server.opened).toBe(2);
  });

  it('sends a message once more on a new connection when the server drops the reused one before the message went out', async () => {
    let drop = false;
    const server: Server = await startServer({
      onMailFrom(_address, session, callback) {
        if (!drop) return callback();
        drop = false;
        // No answer: the server goes away between two messages of the session.
        for (const c of liveConnections(server)) if (c.id === session.id) c.close();
      },
    });
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    await p.send(envelope, mail(1));
    drop = true;
    await p.send(envelope, mail(2));
    expect(server.received.map((m) => m.raw.toString())).toEqual([mail(1).toString(), mail(2).toString()]);
    expect(server.opened).toBe(2);
  });

  it('does not send again when the reused connection dropped after the message went out: the send fails', async () => {
    let drop = false;
    const server: Server = await startServer({
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.once('end', () => {
          if (!drop) {
            server.received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
            return callback(null);
          }
          // The message arrived but its answer never comes: the sender cannot know it was taken.
          drop = false;
          for (const c of liveConnections(server)) if (c.id === session.id) c.close();
        });
      },
    });
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    await p.send(envelope, mail(1));
    drop = true;
    await expect(p.send(envelope, mail(2))).rejects.toMatchObject({ code: 'ECONNECTION' });
    expect(server.received).toHaveLength(1);
    expect(server.opened).toBe(1);
  });

  it('reports a refused recipient, fails a wholly refused envelope with the server reply, and keeps the connection', async () => {
    const server = await startServer({
      onRcptTo(address, _session, callback) {
        callback(address.address.startsWith('nobody') ? Object.assign(new Error('no such user'), { responseCode: 550 }) : undefined);
      },
    });
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    const partly = await p.send({ from: envelope.from, to: ['a@customer.test', 'nobody@customer.test'] }, mail(1));
    expect(partly.rejected).toEqual(['nobody@customer.test']);
    await expect(p.send({ from: envelope.from, to: ['nobody@customer.test'] }, mail(2))).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    await p.send(envelope, mail(3));
    expect(server.received.map((m) => m.to)).toEqual([['a@customer.test'], ['a@customer.test']]);
    expect(server.opened).toBe(1);
  });

  it('logs in with the URL\'s decoded credentials, and a refused login fails the send', async () => {
    const server = await startServer({
      authOptional: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'out@casemail.test' && auth.password === 'p:ss/word') callback(null, { user: auth.username });
        else callback(Object.assign(new Error('bad credentials'), { responseCode: 535 }));
      },
    });
    await pool(`smtp://${encodeURIComponent('out@casemail.test')}:${encodeURIComponent('p:ss/word')}@127.0.0.1:${server.port}`).send(envelope, mail(1));
    expect(server.received).toHaveLength(1);
    await expect(pool(`smtp://out%40casemail.test:wrong@127.0.0.1:${server.port}`).send(envelope, mail(2))).rejects.toMatchObject({ code: 'EAUTH' });
    expect(server.received).toHaveLength(1);
  });

  it('settles every waiting send with the connection error when nothing listens', async () => {
    const server = await startServer();
    await server.stop();
    const p = pool(`smtp://127.0.0.1:${server.port}`, { maxConnections: 1 });
    const outcomes = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => p.send(envelope, mail(i))));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(outcomes.map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(['ESOCKET', 'ESOCKET', 'ESOCKET']);
  });

  it('close() ends the idle connections and refuses later sends', async () => {
    const server = await startServer();
    const p = pool(`smtp://127.0.0.1:${server.port}`);
    await p.send(envelope, mail(1));
    expect(server.closed).toBe(0);
    const sessionEnded = once(server.events, 'closed');
    await p.close();
    await sessionEnded;
    expect(server.closed).toBe(1);
    await expect(p.send(envelope, mail(2))).rejects.toThrow(/closed/);
  });
});
