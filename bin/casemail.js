#!/usr/bin/env node
// Entry point of the `casemail` command: runs the compiled CLI (npm ci builds it via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('casemail: dist/ is missing; run `npm run build` (npm ci does it through `prepare`).\n');
  process.exit(70);
}
const { main } = await import(cli.href);
await main(process.argv);
