// `npm run bench`: prints the message-understanding, hostile-shape, end-to-end intake and timer-sweep figures.
// BENCH_ONLY=understand|hostile|intake|sweep (comma-separated) runs only those parts.
import { runUnderstandingBench } from './understand-bench.js';
import { runIntakeBench } from './intake-bench.js';
import { runHostileBench } from './hostile-bench.js';
import { runSweepBench } from './sweep-bench.js';

const log = (line: string) => process.stdout.write(line + '\n');
const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const wanted = (part: string): boolean => only.length === 0 || only.includes(part);
if (wanted('understand')) await runUnderstandingBench(log);
if (wanted('hostile')) await runHostileBench(log);
if (wanted('intake')) await runIntakeBench(log);
if (wanted('sweep')) await runSweepBench(log);
