// The mailbox lease's pure parts: the advisory-lock key of a mailbox and the server keepalive
// derived from the retry interval.
import { describe, expect, it } from 'vitest';
import { leaseKey, serverKeepalive } from '../../src/ingest/mailbox-lease.js';

describe('leaseKey', () => {
  it('is two int4 values, the same for the same mailbox and different for another', () => {
    const [a, b] = leaseKey('support/INBOX');
    for (const n of [a, b]) {
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(-(2 ** 31));
      expect(n).toBeLessThan(2 ** 31);
    }
    expect(leaseKey('support/INBOX')).toEqual([a, b]);
    expect(leaseKey('support/Archive')).not.toEqual([a, b]);
    expect(leaseKey('sales/INBOX')).not.toEqual([a, b]);
  });
});

describe('serverKeepalive', () => {
  it('drops a silent session only after the holder has noticed (two retry intervals)', () => {
    for (const retryMs of [100, 1_000, 5_000, 60_000]) {
      const ka = serverKeepalive(retryMs);
      const dropAfterMs = (ka.idle + ka.interval * ka.count) * 1000;
      expect(dropAfterMs).toBeGreaterThan(2 * retryMs);
    }
    expect(serverKeepalive(5_000)).toEqual({ idle: 10, interval: 5, count: 3 });
  });
});
