// `casemail inspect`: reads raw message files and prints what the intake understands (NDJSON).
// PLACEHOLDER until the message-understanding work lands.
import type { Writable } from 'node:stream';

export async function runInspect(files: string[], opts: { json: boolean; out: Writable }): Promise<number> {
  for (const file of files) opts.out.write(JSON.stringify({ file, error: { code: 'not_implemented', message: 'inspect is not built yet' } }) + '\n');
  return 0;
}
