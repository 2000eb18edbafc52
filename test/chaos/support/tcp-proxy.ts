// A small TCP proxy on loopback for the chaos suite: it sits between the service and one of its
// dependencies (PostgreSQL, Dovecot, the SMTP relay) and forwards bytes both ways, until a test
// makes it misbehave: go away for a while (listener closed, every connection reset), cut every
// connection once a server chunk matches a condition (mid-FETCH: half the chunk is forwarded),
// or hang (bytes are held, nothing is answered). I/O: one listening socket and its connections.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** What a cut condition sees: one chunk the server sent on one connection, and what went before. */
export interface ServerChunk {
  chunk: Buffer;
  /** Bytes the server sent on this connection before this chunk. */
  before: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Resets every open connection now; returns how many there were. */
  cutAll(): number;
  /**
   * Arms a cut: the first server chunk for which `condition` holds is forwarded only in part (its
   * first half), then every connection is reset. Resolves when that happened.
   */
  cutWhen(condition: (c: ServerChunk) => boolean): Promise<void>;
  /** The dependency goes away: the listener closes (new connections refused) and every connection is reset. */
  down(): Promise<void>;
  /** Back, on the same port. */
  up(): Promise<void>;
  /** While hanging, bytes in both directions are held, not forwarded; unhang() forwards what is held. */
  hang(): void;
  unhang(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  serverBytes: number;
  held: { to: Socket; chunk: Buffer }[];
}

const HOST = '127.0.0.1';

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: Server | null = null;
  let port = 0;
  let accepted = 0;
  let hanging = false;
  let armed: { condition: (c: ServerChunk) => boolean; done: () => void } | null = null;

  const drop = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  };
  const cutAll = (): number => {
    const n = pairs.size;
    for (const pair of [...pairs]) drop(pair);
    return n;
  };
  const forward = (pair: Pair, to: Socket, chunk: Buffer) => {
    if (hanging) pair.held.push({ to, chunk });
    else to.write(chunk);
  };

  const onConnection = (client: Socket) => {
    accepted += 1;
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream, serverBytes: 0, held: [] };
    pairs.add(pair);
    for (const sock of [client, upstream]) sock.on('error', () => drop(pair)).on('close', () => drop(pair));
    client.on('data', (chunk: Buffer) => forward(pair, upstream, chunk));
    upstream.on('data', (chunk: Buffer) => {
      const before = pair.serverBytes;
      pair.serverBytes += chunk.length;
      if (armed && armed.condition({ chunk, before })) {
        const { done } = armed;
        armed = null;
        // Half of the chunk reaches the client, so the cut lands inside a response.
        client.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))), () => {
          cutAll();
          done();
        });
        return;
      }
      forward(pair, client, chunk);
    });
  };

  const listen = async (): Promise<void> => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, HOST, () => resolve()));
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const down = async (): Promise<void> => {
    const s = server;
    server = null;
    const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
    cutAll();
    await closed;
  };
  await listen();

  return {
    host: HOST,
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    cutAll,
    cutWhen(condition) {
      return new Promise<void>((resolve) => {
        armed = { condition, done: resolve };
      });
    },
    down,
    async up() {
      if (!server) await listen();
    },
    hang() {
      hanging = true;
    },
    unhang() {
      hanging = false;
      for (const pair of pairs) {
        for (const { to, chunk } of pair.held.splice(0)) to.write(chunk);
      }
    },
    async close() {
      armed = null;
      await down();
    },
  };
}
