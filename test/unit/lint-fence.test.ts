// The pure-core lint fence (eslint.config.js): a fenced file that imports an I/O library or module,
// a config/log/directory value, or reads the clock or the environment fails `npm run lint`, while
// `import type` from config stays allowed. Runs the project's real ESLint config on snippets.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORTS = '@typescript-eslint/no-restricted-imports';
const SYNTAX = 'no-restricted-syntax';
const PROPERTIES = 'no-restricted-properties';

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: repoRoot });
});

/** The rule ids ESLint reports for `code` as if it were the file at `filePath`. */
async function ruleIds(code: string, filePath = 'src/cases/actions/x.ts'): Promise<(string | null)[]> {
  const [result] = await eslint.lintText(code, { filePath });
  // A parse error has no rule id and would make every "nothing reported" assertion vacuous.
  expect(result!.messages.filter((m) => m.fatal)).toEqual([]);
  return result!.messages.map((m) => m.ruleId);
}

describe('the pure-core lint fence', () => {
  it('catches a kysely import', async () => {
    expect(await ruleIds("import { sql } from 'kysely';\nexport const q = sql;\n")).toEqual([IMPORTS]);
  });

  it('catches a value import from config, log and directory modules', async () => {
    expect(await ruleIds("import { loadConfig } from '../../config/config.js';\nexport const c = loadConfig;\n")).toEqual([IMPORTS]);
    expect(await ruleIds("import { createLogger } from '../../log/logger.js';\nexport const l = createLogger;\n")).toEqual([IMPORTS]);
    expect(await ruleIds("import { findContact } from '../../directory/directory-store.js';\nexport const d = findContact;\n", 'src/threading/x.ts')).toEqual([IMPORTS]);
  });

  it('catches a database module, by folder or as a neighbour', async () => {
    expect(await ruleIds("import { openDatabase } from '../../db/database.js';\nexport const o = openDatabase;\n")).toEqual([IMPORTS]);
    expect(await ruleIds("import { insertCase } from '../case-store.js';\nexport const i = insertCase;\n")).toEqual([IMPORTS]);
    expect(await ruleIds("import { enqueue } from './outbox-store.js';\nexport const e = enqueue;\n", 'src/notify/compose.ts')).toEqual([IMPORTS]);
  });

  it('catches reading the clock and the environment', async () => {
    expect(await ruleIds('export const now = new Date();\n')).toEqual([SYNTAX]);
    expect(await ruleIds('export const now = Date.now();\n')).toEqual([SYNTAX]);
    expect(await ruleIds('export const url = process.env.DATABASE_URL;\n')).toEqual([PROPERTIES]);
  });

  it('fences every pure file, including the notify ones and files still to be written', async () => {
    for (const filePath of ['src/cases/case-rules.ts', 'src/cases/plan.ts', 'src/notify/compose.ts', 'src/notify/smtp-error.ts', 'src/notify/mail-bounds.ts', 'src/notify/retry-backoff.ts', 'src/notify/mail-kinds.ts', 'src/calendar/x.ts', 'src/threading/x.ts']) {
      expect(await ruleIds('export const now = Date.now();\n', filePath), filePath).toEqual([SYNTAX]);
    }
  });

  it('allows `import type` from config, and pure neighbours as values', async () => {
    expect(await ruleIds("import type { CasemailSettings } from '../../config/config.js';\nexport type S = CasemailSettings['calendar'];\n")).toEqual([]);
    expect(await ruleIds("import { decide } from '../case-rules.js';\nimport { bounds } from '../../notify/mail-bounds.js';\nexport const a = [decide, bounds, new Date(0)];\n")).toEqual([]);
  });

  it('leaves the I/O edges alone', async () => {
    expect(await ruleIds("import { sql } from 'kysely';\nexport const a = [sql, new Date(), process.env.X];\n", 'src/cases/case-store.ts')).toEqual([]);
  });
});
