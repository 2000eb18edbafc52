// Which PostgreSQL postmasters serve a data folder, read from /proc (Linux): every server process
// works in its data folder, and the postmaster is the one whose parent is not one of them.
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';

export interface ServerProcess {
  pid: number;
  ppid: number;
  uid: number;
}

function processesIn(dir: string): ServerProcess[] {
  const want = realpathSync(dir);
  const found: ServerProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/cwd`) !== want) continue;
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('postgres')) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // exited, not yet reaped
      found.push({ pid: Number(name), ppid: Number(fields[1]), uid: statSync(`/proc/${name}`).uid });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** The postmasters (not their backends) whose data folder is `dir`; [] when the folder is gone. */
export function postmastersOf(dir: string): ServerProcess[] {
  if (!existsSync(dir)) return [];
  const all = processesIn(dir);
  const pids = new Set(all.map((p) => p.pid));
  return all.filter((p) => !pids.has(p.ppid));
}

/**
 * Waits (polling /proc, bounded) until no postmaster serves `dir`: a stopping server finishes its
 * shutdown checkpoint on its own, which can outlast the casemail process that asked it to stop.
 */
export async function noPostmasterWithin(dir: string, timeoutMs: number): Promise<ServerProcess[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = postmastersOf(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
