// fullCollector gives the calling thread V8's full collection at run time (the service runs as
// plain `node`, without --expose-gc): what nothing references any more is gone after a call.
// Before a large message it runs at most once a second (atMostEvery, with `now` passed in).
import { describe, expect, it } from 'vitest';
import { atMostEvery, fullCollector } from '../../src/ingest/full-collection.js';

describe('fullCollector', () => {
  it('collects an unreachable object, its ArrayBuffer included', async () => {
    const collect = fullCollector();
    expect(typeof collect).toBe('function');
    let bytes: ArrayBuffer | null = new ArrayBuffer(8 * 1024 * 1024);
    const ref = new WeakRef(bytes);
    bytes = null;
    // A WeakRef's target is kept to the end of the job that made or read it.
    await new Promise((r) => setImmediate(r));
    collect!();
    expect(ref.deref()).toBeUndefined();
  });

  it('keeps what is still referenced', async () => {
    const kept = { bytes: new ArrayBuffer(1024) };
    const ref = new WeakRef(kept);
    await new Promise((r) => setImmediate(r));
    fullCollector()!();
    expect(ref.deref()).toBe(kept);
  });
});

describe('atMostEvery', () => {
  it('runs the collection on the first call, then not again until the interval has passed', () => {
    const runs: number[] = [];
    let now = 0;
    const collect = atMostEvery(1000, () => runs.push(now));
    for (now of [5000, 5001, 5999, 6000, 6500, 7100]) collect(now);
    expect(runs).toEqual([5000, 6000, 7100]);
  });

  it('does nothing when no collection is available', () => {
    expect(() => atMostEvery(1000, null)(0)).not.toThrow();
  });
});
