// Throwaway databases for the bench: on the PostgreSQL server BENCH_DATABASE_URL names (default
// postgres://postgres@127.0.0.1:5432/test), or on an embedded server the bench starts in a temp
// folder (src/db/embedded-postgres.ts, durable settings as the service runs it). Each is created
// empty, registered for cleanup, and dropped (the folder removed) when done or on interrupt.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { acquireEmbeddedServer, embeddedUrl, removeEmbeddedData } from '../src/db/embedded-postgres.js';
import { onCleanup } from './cleanup.js';

export type DatabaseKind = 'postgres' | 'embedded';

export interface BenchServer {
  kind: DatabaseKind;
  /** A URL of the server's maintenance database, for creating and dropping. */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

export function postgresUrl(): string {
  return process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export async function startServer(kind: DatabaseKind): Promise<BenchServer> {
  if (kind === 'postgres') return { kind, adminUrl: postgresUrl(), stop: async () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'casemail-bench-embedded-'));
  chmodSync(dir, 0o755); // under root the server runs as `postgres`, which must enter it
  const data = path.join(dir, 'postgres');
  const removeDir = onCleanup(`embedded folder ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const lease = await acquireEmbeddedServer(data);
  const release = onCleanup('embedded server', async () => {
    await lease.release();
    removeEmbeddedData(data);
  });
  return {
    kind,
    adminUrl: embeddedUrl(lease.connection),
    stop: async () => {
      await release();
      await removeDir();
    },
  };
}

let counter = 0;

export async function createDatabase(server: BenchServer, tag: string): Promise<BenchDatabase> {
  const name = `casemail_bench_${tag.replace(/[^a-z0-9]/g, '_')}_${process.pid}_${counter++}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  const drop = onCleanup(`database ${name}`, async () => {
    const c = new pg.Client({ connectionString: server.adminUrl });
    await c.connect();
    try {
      await c.query(`drop database if exists ${name} with (force)`);
    } finally {
      await c.end();
    }
  });
  return { url: url.toString(), drop };
}
