// When a temporarily failed outbox row is tried again: exponential backoff from the configured
// base, capped, with a little jitter so a whole queue that failed together (relay down) does
// not hit the relay again in one burst. Pure: the random source is an argument.

export interface BackoffPolicy {
  baseSeconds: number;
  /** No single wait is longer than this. */
  maxSeconds: number;
  /** Share of the delay added at random, e.g. 0.1 for up to +10 %. */
  jitter: number;
}

/** Seconds to wait after failed attempt number `attempts` (1 for the first): base · 2^(attempts-1), capped, plus jitter. */
export function retryDelaySeconds(attempts: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 40));
  const delay = Math.min(policy.baseSeconds * 2 ** exponent, policy.maxSeconds);
  const r = Math.min(Math.max(random(), 0), 1);
  return delay + delay * policy.jitter * r;
}

export function nextAttemptAt(now: Date, attempts: number, policy: BackoffPolicy, random: () => number): Date {
  return new Date(now.getTime() + Math.round(retryDelaySeconds(attempts, policy, random) * 1000));
}
