// Splitting one new request into several issues (spec section 4).

export interface IssuePart {
  title: string;
  /** Shared introduction plus this issue's own text. */
  text: string;
}

// PLACEHOLDER until the splitting work lands: one issue, the whole request.
export function splitIssues(subject: string, text: string): IssuePart[] {
  return [{ title: subject, text }];
}
