// Comparing mail addresses the way our own mailboxes receive them: lower-cased, with a "+tag"
// in the local part dropped, so support+c1@… is recognised as support@…. Pure: no I/O.

/** Lower-cased, with any "+tag" in the local part removed (reply tokens, per-case aliases). */
export function baseAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at < 0) return lower;
  const local = lower.slice(0, at);
  const plus = local.indexOf('+');
  return `${plus > 0 ? local.slice(0, plus) : local}${lower.slice(at)}`;
}

/** True when `address` is one of `own` or a +tag variant of one (compared by base address). */
export function isOwnAddress(address: string, own: readonly string[]): boolean {
  const base = baseAddress(address);
  return own.some((o) => baseAddress(o) === base);
}
