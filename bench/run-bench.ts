// `npm run bench`: prints the message-understanding throughput figures.
import { runUnderstandingBench } from './understand-bench.js';

await runUnderstandingBench((line) => process.stdout.write(line + '\n'));
