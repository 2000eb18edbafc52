// Recognising the handler's temporary failure and its refusal of an empty message, shared by the IMAP and SMTP intakes (no I/O).
// instanceof alone misses an error from a second copy of the module (bundles, duplicated deps),
// so the string code the contract gives it counts too.
import { EmptyMessageError, TemporaryIntakeError } from './intake-types.js';

export function isTemporaryIntakeError(error: unknown): boolean {
  return error instanceof TemporaryIntakeError
    || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'temporary_intake_failure');
}

export function isEmptyMessageError(error: unknown): boolean {
  return error instanceof EmptyMessageError
    || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'empty_message');
}
