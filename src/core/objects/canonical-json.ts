/**
 * Canonical JSON (docs/FORMAT.md): UTF-8, object keys sorted by code point, no insignificant white space,
 * JSON.stringify's string escaping, finite numbers only. The same value always serialises to the same
 * bytes, so the same content always has the same hash.
 */
import { StrataError } from '../../storage/errors.js';

export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new StrataError('BAD_INPUT', 'non-finite number in canonical JSON');
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map(write).join(',') + ']';
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort();
      return (
        '{' +
        keys.map((k) => JSON.stringify(k) + ':' + write((v as Record<string, unknown>)[k])).join(',') +
        '}'
      );
    }
    default:
      throw new StrataError('BAD_INPUT', `cannot encode ${typeof v} in canonical JSON`);
  }
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
