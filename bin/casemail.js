#!/usr/bin/env node
// Entry point of the `casemail` command: runs the compiled CLI (npm ci builds it via `prepare`).
// CASEMAIL_DEBUG_MEMORY=<ms>: writes process.memoryUsage() (MB) to stderr every <ms>, for measuring.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setInterval } from 'node:timers';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('casemail: dist/ is missing; run `npm run build` (npm ci does it through `prepare`).\n');
  process.exit(70);
}
const every = Number(process.env.CASEMAIL_DEBUG_MEMORY ?? 0);
if (every > 0) {
  const mb = (n) => Math.round(n / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`memory rss=${mb(m.rss)} heapUsed=${mb(m.heapUsed)} heapTotal=${mb(m.heapTotal)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)}\n`);
  }, every).unref();
}
const { main } = await import(cli.href);
await main(process.argv);
