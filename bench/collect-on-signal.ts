// Preloaded into the benchmarked service (`node --expose-gc --import <this> bin/casemail.js start`)
// by the service bench, nowhere else: on SIGUSR2 the main thread collects all its garbage and, once
// V8 has given the freed pages back, writes "collected" to stderr; the bench then reads the
// service's RSS. The growth rows compare RSS after 5,000 and after 50,000 messages at this point,
// where a leak shows and V8's sawtooth (garbage waiting for the next full collection, up to a few
// times what is live) does not.
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  process.on('SIGUSR2', () => {
    gc();
    // V8 gives the freed pages back to the system from a background task, a few ms to ~100 ms later.
    setTimeout(() => process.stderr.write('collected\n'), 1000);
  });
}
