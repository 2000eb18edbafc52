// Retry waits: exponential from the base, capped, with bounded jitter.
import { describe, expect, it } from 'vitest';
import { nextAttemptAt, retryDelaySeconds } from '../../src/notify/retry-backoff.js';

const policy = { baseSeconds: 30, maxSeconds: 3600, jitter: 0.1 };

describe('retryDelaySeconds', () => {
  it('doubles from the base with each attempt', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, policy, () => 0))).toEqual([30, 60, 120, 240, 480]);
  });

  it('never waits longer than the cap (plus jitter), even after many attempts', () => {
    expect(retryDelaySeconds(8, policy, () => 0)).toBe(3600);
    expect(retryDelaySeconds(1000, policy, () => 0)).toBe(3600);
    expect(retryDelaySeconds(1000, policy, () => 0.999)).toBeLessThanOrEqual(3960);
  });

  it('adds at most the jitter share, and tolerates a random source out of range', () => {
    expect(retryDelaySeconds(1, policy, () => 0.5)).toBe(31.5);
    expect(retryDelaySeconds(1, policy, () => 7)).toBe(33);
    expect(retryDelaySeconds(1, policy, () => -1)).toBe(30);
  });

  it('treats attempt 0 like the first', () => {
    expect(retryDelaySeconds(0, policy, () => 0)).toBe(30);
  });
});

describe('nextAttemptAt', () => {
  it('adds the delay to now', () => {
    expect(nextAttemptAt(new Date('2026-11-30T09:00:00Z'), 3, policy, () => 0).toISOString()).toBe('2026-11-30T09:02:00.000Z');
  });
});
