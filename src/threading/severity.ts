// Severity suggestion from a new request's subject and text (spec section 2); default 3.

export type Severity = 1 | 2 | 3;

export interface SeveritySuggestion {
  suggested: Severity;
  reasons: string[];
}

// PLACEHOLDER until the severity work lands.
export function suggestSeverity(_subject: string, _text: string): SeveritySuggestion {
  return { suggested: 3, reasons: ['default'] };
}
