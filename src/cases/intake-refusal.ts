// Messages the handler refuses outright instead of storing: so far only an empty one (no bytes,
// or nothing but trace fields). Intakes map the string code: the pipe exits 65 (EX_DATAERR),
// SMTP should answer a 5xx permanent refusal (the sender has nothing to retry).
export class EmptyMessageError extends Error {
  readonly code = 'empty_message';
  constructor() {
    super('empty message: no header fields of its own and no body; nothing was stored');
    this.name = 'EmptyMessageError';
  }
}

/** instanceof, or the string code (a second copy of the module in a bundle). */
export function isEmptyMessageError(error: unknown): boolean {
  return error instanceof EmptyMessageError
    || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'empty_message');
}
