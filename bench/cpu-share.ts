// Who spent the machine's CPU during a timed pass, per message: the whole machine (/proc/stat) and
// named parties, each a set of processes (/proc/<pid>/stat, all threads): this process, a child,
// or every process with a given name (PostgreSQL's backends, Dovecot's imap processes). On a
// machine whose cores are all busy a throughput target is a CPU budget per message; this row
// shows the budget and where it went, measured in the same run as the rate. A process that starts
// and ends inside the pass is not seen (the pools here keep their connections open). Linux only:
// elsewhere the pass gives null.
// I/O: reads /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** How a party finds its processes: pids, or a process name (/proc/<pid>/comm) every match of which counts. */
export type Party = { pids: () => readonly number[] } | { comm: readonly string[] };

export interface CpuShare {
  /** CPU-milliseconds per message: the machine's and each party's; `other` is the machine's rest. */
  perMessageMs: Record<string, number>;
  /** The machine's busy share over the pass, in % of one core (200% = two cores busy). */
  machineBusyPct: number;
  cores: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function machineTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** utime + stime of one process, all its threads; 0 once it is gone. */
function processTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function pidsNamed(names: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'latin1').trim())) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function partyTicks(party: Party): Map<number, number> {
  const pids = 'pids' in party ? party.pids() : pidsNamed(party.comm);
  return new Map(pids.map((pid) => [pid, processTicks(pid)]));
}

/** Starts counting; the returned function ends the pass and divides by its messages. */
export function startCpuShare(parties: Record<string, Party>): (messages: number) => CpuShare | null {
  const machine0 = machineTicks();
  if (!machine0) return () => null;
  const before = Object.fromEntries(Object.entries(parties).map(([label, p]) => [label, partyTicks(p)]));
  return (messages) => {
    const machine1 = machineTicks();
    if (!machine1 || messages <= 0) return null;
    const perMessageMs: Record<string, number> = {};
    const busyMs = (machine1.busy - machine0.busy) * TICK_MS;
    perMessageMs.machine = busyMs / messages;
    let named = 0;
    for (const [label, party] of Object.entries(parties)) {
      const after = partyTicks(party);
      let ticks = 0;
      // A process seen only at the end counts from zero: it started inside the pass.
      for (const [pid, t] of after) ticks += t - (before[label]!.get(pid) ?? 0);
      perMessageMs[label] = (ticks * TICK_MS) / messages;
      named += ticks * TICK_MS;
    }
    perMessageMs.other = Math.max(0, busyMs - named) / messages;
    const cores = cpus().length;
    const totalTicks = machine1.total - machine0.total;
    return { perMessageMs, machineBusyPct: totalTicks > 0 ? ((machine1.busy - machine0.busy) / totalTicks) * 100 * cores : 0, cores };
  };
}

/** "service 6.4, PostgreSQL 3.1, …; machine busy 169% of 200%". */
export function describeCpuShare(share: CpuShare): string {
  const parts = Object.entries(share.perMessageMs).filter(([k]) => k !== 'machine').map(([k, v]) => `${k} ${v.toFixed(2)}`);
  return `ms of CPU per message: ${parts.join(', ')}; the machine busy ${share.machineBusyPct.toFixed(0)}% of ${share.cores * 100}%`;
}
