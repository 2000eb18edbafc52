// Request bodies that list many distinct issues, for the per-message case cap (issue 11).

/** A request listing `n` distinct issues, each with a real description. */
export function manyIssues(n: number): string {
  const items = Array.from({ length: n }, (_, i) =>
    `${i + 1}. The ${['export', 'login', 'report', 'backup', 'search'][i % 5]} module number ${i + 1} fails with error E${100 + i} every time a user opens it after the upgrade, and restarting the service does not help at all.`);
  return ['Hello support,', '', `we have ${n} separate issues since the upgrade:`, '', ...items.flatMap((l) => [l, '']), 'Thanks, Bob'].join('\n');
}
