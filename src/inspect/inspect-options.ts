// Where `casemail inspect` takes its understanding options from: the configuration file named by
// --config or CASEMAIL_CONFIG (read and validated here; that file is the only I/O), else the
// schema's defaults. Secrets are not needed and not read: inspect touches no database or mailbox.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { UnderstandingOptions } from '../threading/understanding.js';
import type { ParseMessageOptions } from '../ingest/parse-message.js';

export interface InspectOptions {
  understanding: UnderstandingOptions;
  parse: ParseMessageOptions;
}

/**
 * What `understandingOptions(configSchema.parse({}))` and the default MIME caps give, written out:
 * loading the schema library costs about as much as the rest of inspect's start-up, and inspect
 * is started once per file by the corpus scorer. A unit test keeps these equal to the schema's.
 */
export const DEFAULT_INSPECT_OPTIONS: InspectOptions = {
  understanding: { ourMessageIdDomains: ['casemail.localhost'], loopHeader: 'X-Casemail-Loop', caseNumberPrefixes: ['Case'] },
  parse: { maxParts: 1000, maxDepth: 50 },
};

export class InspectConfigError extends Error {
  readonly code = 'config_invalid';
}

/** The options of this run: from `configFile` when given, else the defaults. */
export async function inspectOptions(configFile: string | null, cwd: string): Promise<InspectOptions> {
  if (!configFile) return DEFAULT_INSPECT_OPTIONS;
  let fileSettings: unknown;
  try {
    fileSettings = JSON.parse(await readFile(path.resolve(cwd, configFile), 'utf8'));
  } catch (err) {
    throw new InspectConfigError(`config file ${configFile}: ${(err as Error).message}`);
  }
  // Only with a file is the schema loaded; its defaults fill what the file leaves out.
  const { configSchema } = await import('../config/config.js');
  const { understandingOptions } = await import('../threading/understanding.js');
  const parsed = configSchema.safeParse(fileSettings);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new InspectConfigError(`invalid configuration ${configFile}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  const s = parsed.data;
  return { understanding: understandingOptions(s), parse: { maxParts: s.limits.maxMimeParts, maxDepth: s.limits.maxMimeDepth } };
}
