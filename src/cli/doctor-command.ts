// `casemail doctor` (being built).
export async function runDoctor(_opts: { config?: string }): Promise<number> {
  return 1;
}
