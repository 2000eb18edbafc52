// Everything a bench part starts (databases, folders, child processes, servers) registers how to
// undo it here; parts undo their own in `finally`, and an interrupt (SIGINT/SIGTERM) or a crash
// runs whatever is still registered before the process exits. I/O: only what the callbacks do.
type Undo = () => unknown;

const pending = new Map<number, { what: string; undo: Undo }>();
let nextId = 1;
let installed = false;

async function runAll(): Promise<void> {
  const all = [...pending.entries()].reverse();
  pending.clear();
  for (const [, { what, undo }] of all) {
    try {
      await undo();
    } catch (err) {
      process.stderr.write(`bench cleanup: ${what}: ${(err as Error).message}\n`);
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up ${pending.size} thing(s)\n`);
      void runAll().finally(() => process.exit(130));
    });
  }
  // A crash (an error nobody handled) must not leave databases, servers or children behind either.
  process.once('uncaughtException', (err) => {
    process.stderr.write(`bench: crashed (${err.stack ?? err.message}); cleaning up ${pending.size} thing(s)\n`);
    void runAll().finally(() => process.exit(1));
  });
}

/** Registers `undo`; the returned function runs it once and unregisters it. */
export function onCleanup(what: string, undo: Undo): () => Promise<void> {
  install();
  const id = nextId++;
  pending.set(id, { what, undo });
  return async () => {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    await entry.undo();
  };
}

/** Runs what is still registered (the bench's last step, also after a failed part). */
export function cleanupAll(): Promise<void> {
  return runAll();
}
