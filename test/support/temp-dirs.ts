// Temp folders for tests: `tempDir(prefix)` makes one under the OS temp directory and remembers
// it; the setup file (temp-dirs-setup.ts, in every vitest project's setupFiles) removes every
// folder the test file made when the file ends, passed or failed. Tests then leave nothing behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const made: string[] = [];

/** A fresh folder `<tmp>/<prefix>XXXXXX`, removed when the test file ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every folder tempDir made so far (the setup file calls it after each test file). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
