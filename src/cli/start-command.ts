// `casemail start` (being built).
export async function runStart(_opts: { config?: string }): Promise<void> {
  throw new Error('start is not built yet');
}
