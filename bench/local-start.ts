// Local mode figures (issue 14): `casemail start` on the embedded PostgreSQL server in a fresh
// folder — cold start to "SMTP intake listening" (initdb included), the idle memory of the service
// plus every server process (sum of Pss from /proc/<pid>/smaps_rollup, Linux), and a warm start.
// Wall times depend on the machine's load; the CPU seconds beside them do much less.
// Run: `npm run build && node dist/bench/local-start.js [idle seconds, default 10]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const idleSeconds = Number(process.argv[2] ?? 10);

function start(cwd: string): { child: ChildProcess; listening: Promise<number> } {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(REPO, 'bin/casemail.js'), 'start'], {
    cwd, env: { PATH: process.env.PATH ?? '', CASEMAIL_CONFIG: path.join(cwd, 'casemail.json') }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('SMTP intake listening')) resolve(performance.now() - t0);
    });
    child.once('exit', () => reject(new Error(`casemail start exited:\n${out}`)));
  });
  return { child, listening };
}

function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Every process working in the data folder: the postmaster and all its children. */
function serverPids(dataDir: string): number[] {
  const want = realpathSync(dataDir);
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/cwd`) === want;
    } catch {
      return false;
    }
  });
}

const TICKS_PER_SECOND = 100;

/** CPU seconds a process and its reaped children used (utime+stime+cutime+cstime). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGINT');
  await once(child, 'exit');
}

const cwd = mkdtempSync(path.join(tmpdir(), 'casemail-bench-local-'));
chmodSync(cwd, 0o755); // under root the server runs as `postgres`, which must enter it
writeFileSync(path.join(cwd, 'casemail.json'), JSON.stringify({ smtpIntake: { port: 0 } }));
try {
  const cold = start(cwd);
  const coldMs = await cold.listening;
  // CPU used up to listening (casemail, initdb it waited for, and the server): the figure the
  // machine's load does not inflate.
  const coldCpu = cpuSeconds(cold.child.pid!) + serverPids(path.join(cwd, 'var', 'postgres')).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const servers = serverPids(path.join(cwd, 'var', 'postgres'));
  const service = pssKiB(cold.child.pid!);
  const server = servers.reduce((sum, pid) => sum + pssKiB(pid), 0);
  await stop(cold.child);

  const warm = start(cwd);
  const warmMs = await warm.listening;
  await stop(warm.child);

  console.log(`cold start to listening (initdb included): ${(coldMs / 1000).toFixed(2)} s (CPU ${coldCpu.toFixed(2)} s)`);
  console.log(`warm start to listening:                   ${(warmMs / 1000).toFixed(2)} s`);
  console.log(`idle PSS after ${idleSeconds} s: service ${(service / 1024).toFixed(0)} MiB + ${servers.length} server processes ${(server / 1024).toFixed(0)} MiB = ${((service + server) / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
