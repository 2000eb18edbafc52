// isTemporaryDatabaseError on the errors a stopped server gives: connecting to a PostgreSQL Unix
// socket whose server is down (its socket file removed) is a "try again later", while an ordinary
// missing file is not. The first error is pg's own, from a real connect to an empty folder (no
// server is needed: there is nothing to mock).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isTemporaryDatabaseError } from '../../src/db/database.js';
import { tempDir } from '../support/temp-dirs.js';

describe('isTemporaryDatabaseError', () => {
  it('a Unix-socket server that is stopped (no socket file: ENOENT) is temporary', async () => {
    const folder = tempDir('casemail-nosocket-');
    const client = new pg.Client({ host: folder, port: 5432, user: 'postgres', database: 'casemail' });
    const err = await client.connect().then(() => null, (e: unknown) => e);
    await client.end().catch(() => {});
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(isTemporaryDatabaseError(err)).toBe(true);
  });

  it('any other missing file is not', () => {
    let err: unknown = null;
    try {
      readFileSync(path.join(tempDir('casemail-nofile-'), 'missing.txt'));
    } catch (e) {
      err = e;
    }
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(isTemporaryDatabaseError(err)).toBe(false);
  });
});
