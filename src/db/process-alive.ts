// Is a process on this machine still running? Used to take over what a killed process left
// behind: the embedded server's start lock and client registrations, and outbox leases.

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
