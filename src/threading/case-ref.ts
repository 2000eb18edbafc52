// Finding a case number in a subject or body: "[Case #100042]", "Case#100042", "case 100042",
// "CASE-100042", "Incident# 100042" and the configured prefix, in any letter case.

export interface CaseRef {
  number: number;
  source: 'subject' | 'body';
}

// PLACEHOLDER until the case-reference work lands.
export function findCaseRef(_subject: string, _body: string, _prefixes: readonly string[]): CaseRef | null {
  return null;
}
