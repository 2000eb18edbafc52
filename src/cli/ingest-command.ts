// `casemail ingest` (being built).
export async function runIngest(_opts: { config?: string }, _file: string): Promise<number> {
  return 75;
}
