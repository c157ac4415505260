import { describe, expect, it } from 'vitest';
import { GEAR, GEAR_SEED_PREFIX, GEAR_TABLE_HASH, GEAR_VALUES } from '../../src/core/chunking/index.js';
import { hashBytes, wasmBlake3 } from '../../src/storage/hash.js';

describe('gear table', () => {
  it('is BLAKE3("strata gear v1 <i>")[0..4] little-endian, as docs/FORMAT.md states', () => {
    expect(GEAR_VALUES).toHaveLength(256);
    for (let i = 0; i < 256; i++) {
      const want = wasmBlake3()
        .hash(Buffer.from(`${GEAR_SEED_PREFIX}${i}`, 'ascii'))
        .readUInt32LE(0);
      expect(GEAR_VALUES[i], `entry ${i}`).toBe(want);
      expect(GEAR[i]! >>> 0).toBe(want);
    }
  });

  it('hashes to GEAR_TABLE_HASH when serialised as 256 little-endian uint32', () => {
    const ser = Buffer.alloc(1024);
    GEAR_VALUES.forEach((v, i) => ser.writeUInt32LE(v, 4 * i));
    expect(hashBytes(ser)).toBe(GEAR_TABLE_HASH);
    expect(GEAR_TABLE_HASH).toBe('afcb30b8f36ea4839a53fc5c018267cf5149ae900a20ff60d609b1d76f882a29');
  });
});
