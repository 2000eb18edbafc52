// Operator commands (being built).
type Opts = { config?: string };
export async function runMigrate(_o: Opts): Promise<number> { return 1; }
export async function runDirectoryImport(_o: Opts, _f: string): Promise<number> { return 1; }
export async function runDirectoryExport(_o: Opts, _f: string): Promise<number> { return 1; }
export async function runCaseList(_o: Opts, _s?: string): Promise<number> { return 1; }
export async function runCaseShow(_o: Opts, _n: string): Promise<number> { return 1; }
