// Preloaded into the benchmarked service (`node --expose-gc --import <this> bin/casemail.js start`)
// by the service bench, nowhere else: on SIGUSR2 the main thread collects all its garbage and writes
// "collected rss=<MB>" to stderr. The growth rows compare RSS after 5,000 and after 50,000 messages
// at this point, where a leak shows and V8's sawtooth (garbage waiting for the next full
// collection, up to a few times what is live) does not.
import { readFileSync } from 'node:fs';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  process.on('SIGUSR2', () => {
    gc();
    // V8 gives the freed pages back to the system from a background task, a few ms to ~100 ms later.
    setTimeout(() => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      const heap = process.memoryUsage();
      process.stderr.write(`collected rss=${m ? (Number(m[1]) / 1024).toFixed(1) : 'NaN'} heapUsed=${(heap.heapUsed / 1048576).toFixed(1)} heapTotal=${(heap.heapTotal / 1048576).toFixed(1)}\n`);
    }, 1000);
  });
}
