// Text PostgreSQL accepts: it refuses NUL in text and jsonb ("invalid byte sequence 0x00",
// "unsupported Unicode escape sequence") and a lone UTF-16 surrogate has no UTF-8 form. Input is
// made safe once, before anything derived from it is written; the raw bytes stay untouched. Pure.

const REFUSED = /[\0\uD800-\uDFFF]/;
const NUL = /\0/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** NUL and lone surrogates replaced by U+FFFD (visible, so the operator sees something was there). */
export function pgSafeText(s: string): string {
  if (!REFUSED.test(s)) return s;
  return s.replace(NUL, '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * The same value with every string in it (object keys too) made safe. Plain objects and arrays
 * are copied only where something changed; Buffers, Dates and other objects are left as they are.
 */
export function pgSafeDeep<T>(value: T): T {
  return clean(value, 0) as T;
}

function clean(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return pgSafeText(value);
  if (depth > 32 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const c = clean(v, depth + 1);
      if (c !== v) changed = true;
      return c;
    });
    return changed ? out : value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let changed = false;
  const entries = Object.entries(value).map(([k, v]) => {
    const ck = pgSafeText(k);
    const cv = clean(v, depth + 1);
    if (ck !== k || cv !== v) changed = true;
    return [ck, cv] as const;
  });
  // fromEntries defines own keys: assigning out["__proto__"] would set the prototype instead.
  return changed ? Object.fromEntries(entries) : value;
}
