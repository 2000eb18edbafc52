// bindParts: the Bind message with large Buffer values as parts of their own must be byte for byte
// what pg-protocol serializes (the reference is pg's own serializer), and the large values must be
// the caller's Buffers themselves, not copies.
import { describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { createRequire } from 'node:module';
import { bindParts, type BindConfig } from '../../src/db/uncopied-bind.js';

/** pg's own value mapping (what its Query passes to bind as valueMapper). */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown };
const big = Buffer.alloc(100_000, 7);
const bigger = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));

function same(config: BindConfig): Buffer[] {
  const parts = bindParts(config, 64 * 1024);
  expect(parts).not.toBeNull();
  expect(Buffer.concat(parts!).equals(Buffer.from(serialize.bind(config as Parameters<typeof serialize.bind>[0])))).toBe(true);
  return parts!;
}

describe('bindParts', () => {
  it('writes the same bytes as pg for text, numbers, null, small and large Buffers, with pg\'s value mapping', () => {
    const date = new Date('2026-01-02T03:04:05Z');
    const parts = same({ portal: '', statement: 'k1abc', values: [big, 'héllo ✓', null, 42, Buffer.from('ab'), undefined, date, { a: [1, 'x'] }, bigger.subarray(10)], valueMapper: prepareValue });
    expect(parts).toContain(big);
  });

  it('keeps the large Buffers as they are, in order, and joins the small pieces between them', () => {
    const parts = same({ statement: 's', values: ['a', big, 'b', 'c', bigger], valueMapper: prepareValue });
    expect(parts.indexOf(big)).toBeGreaterThan(0);
    expect(parts.indexOf(bigger)).toBeGreaterThan(parts.indexOf(big));
    // head, length of big, big, ['b', 'c', length of bigger] joined, bigger, trailer
    expect(parts).toHaveLength(5 + 1);
  });

  it('asks for binary results and takes unnamed statements and portals as pg does', () => {
    same({ values: [bigger], binary: true });
    same({ portal: 'p1', statement: '', values: [bigger, null] });
  });

  it('leaves a Bind without a large Buffer to pg', () => {
    expect(bindParts({ values: ['x'.repeat(200_000), Buffer.alloc(1000), null] }, 64 * 1024)).toBeNull();
    expect(bindParts({}, 64 * 1024)).toBeNull();
  });

  it('does not map the values of a Bind it leaves to pg (pg maps them itself)', () => {
    let mapped = 0;
    const valueMapper = (v: unknown) => {
      mapped += 1;
      return prepareValue(v);
    };
    expect(bindParts({ values: [['a', 'b'], 'x', Buffer.alloc(10)], valueMapper }, 64 * 1024)).toBeNull();
    expect(mapped).toBe(0);
    // A large typed array is sent as a Buffer by pg, so it is taken here too.
    same({ values: [new Uint8Array(big), 'y'], valueMapper: prepareValue });
  });
});
