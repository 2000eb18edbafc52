// `casemail doctor`'s vacuum check: a server or a busy table without autovacuum is a warning
// (the outbox's dead rows slow the dispatcher), never a failure.
import { describe, expect, it } from 'vitest';
import { vacuumCheck } from '../../src/cli/doctor-command.js';

describe('doctor: vacuum check', () => {
  it('is ok with autovacuum on and no busy table turned off', () => {
    expect(vacuumCheck('on', [])).toEqual({ name: 'vacuum', status: 'ok', detail: 'autovacuum on' });
  });

  it('warns when the server has autovacuum off, whatever the tables say', () => {
    const r = vacuumCheck('off', ['outbox']);
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/^autovacuum is off on this server: .*outbox dispatcher slows/);
  });

  it('warns naming the busy tables that turned it off for themselves', () => {
    const r = vacuumCheck('on', ['cases', 'outbox']);
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/^autovacuum is off for cases, outbox: /);
  });
});
