// Our own Message-IDs: one per outgoing mail, in angle brackets, under our domain, never repeated.
import { describe, expect, it } from 'vitest';
import { generateMessageId } from '../../src/notify/outbox-store.js';

describe('generateMessageId', () => {
  it('gives <random@domain> with a UUID left of the @, and no two alike', () => {
    const ids = Array.from({ length: 10_000 }, () => generateMessageId('casemail.example'));
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^<[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}@casemail\.example>$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
