// `npm run bench`: prints the message-understanding and end-to-end intake throughput figures.
import { runUnderstandingBench } from './understand-bench.js';
import { runIntakeBench } from './intake-bench.js';

const log = (line: string) => process.stdout.write(line + '\n');
await runUnderstandingBench(log);
await runIntakeBench(log);
