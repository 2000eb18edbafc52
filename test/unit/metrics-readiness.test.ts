// The IMAP readiness probe: connected is ready; reconnecting is ready for the grace period, counted
// from the first failure of an outage, and then names the last error. And the metrics settings' defaults.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { imapReadinessProbe } from '../../src/metrics/metrics-server.js';
import { loadConfig } from '../../src/config/config.js';

describe('imapReadinessProbe', () => {
  it('is ready while connected and within the grace period of reconnecting, and names the error after it', () => {
    let t = 0;
    const intake = new EventEmitter();
    const probe = imapReadinessProbe(intake, 60, () => t);
    intake.emit('connected', { idle: true, uidValidity: 1 });
    t = 1_000_000;
    expect(probe()).toBeNull();

    intake.emit('disconnected', { error: null });
    t += 30_000;
    intake.emit('disconnected', { error: new Error('connect ECONNREFUSED 127.0.0.1:143') });
    expect(probe()).toBeNull();
    t += 31_000;
    // The outage runs from the first disconnect, not the latest failed retry.
    expect(probe()).toBe('not connected for 61 s (reconnecting; last error: connect ECONNREFUSED 127.0.0.1:143)');

    intake.emit('connected', { idle: true, uidValidity: 1 });
    expect(probe()).toBeNull();
  });

  it('counts a first connection that never succeeds from when the probe was made', () => {
    let t = 0;
    const intake = new EventEmitter();
    const probe = imapReadinessProbe(intake, 10, () => t);
    intake.emit('disconnected', { error: new Error('AUTHENTICATIONFAILED') });
    t = 9_000;
    expect(probe()).toBeNull();
    t = 10_000;
    expect(probe()).toBe('not connected for 10 s (reconnecting; last error: AUTHENTICATIONFAILED)');
  });
});

describe('metrics configuration', () => {
  it('is off by default, on loopback port 9464 when turned on', () => {
    const { metrics } = loadConfig({ env: {} }).settings;
    expect(metrics).toEqual({ enabled: false, host: '127.0.0.1', port: 9464, outboxStuckMinutes: 15, imapReconnectGraceSeconds: 300, scrapeCacheSeconds: 5 });
    expect(() => loadConfig({ env: {}, overrides: { metrics: { enabled: true, prot: 1 } } })).toThrow(/metrics: Unrecognized key/);
  });
});
