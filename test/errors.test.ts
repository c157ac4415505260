import { describe, expect, it } from 'vitest';
import { StrataError } from '../src/storage/errors.js';

describe('StrataError', () => {
  it('carries a stable code and serialises to JSON', () => {
    const e = new StrataError('NOT_FOUND', 'object x not found', { hash: 'x' });
    expect(e.code).toBe('NOT_FOUND');
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: 'NOT_FOUND',
      message: 'object x not found',
      data: { hash: 'x' },
    });
  });
});
