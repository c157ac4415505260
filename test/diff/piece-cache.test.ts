// The record readers' piece cache counts the bytes it holds: a piece that is a small view of a larger buffer
// (a sub-chunk span of a decoded chunk) is held as a copy, so the cache does not keep whole chunks alive.
import { describe, expect, it } from 'vitest';
import type { DiffCost, DiffSide } from '../../src/core/diff/index.js';
import { PieceCache, ownBytes } from '../../src/core/diff/records.js';

const cost = (): DiffCost => ({ piecesShared: 0, piecesRead: 0, examplesRead: 0, bytesRead: 0 });

describe('piece cache', () => {
  it('copies a small view of a large buffer, keeps a buffer that is mostly the piece', () => {
    const big = new Uint8Array(64 * 1024).fill(7);
    const view = big.subarray(1000, 1100);
    const own = ownBytes(view);
    expect(own.buffer.byteLength).toBe(100);
    expect([...own]).toEqual([...view]);
    const most = big.subarray(0, 60 * 1024);
    expect(ownBytes(most)).toBe(most);
  });

  it('what it caches holds the piece bytes only, and is served again without reading', async () => {
    const chunk = Buffer.from('{"a":1}\n{"a":2}\n{"a":3}\n'.repeat(1000));
    let reads = 0;
    const side: DiffSide = {
      path: 'd.jsonl',
      format: 'jsonl',
      size: 8,
      pieces: [{ id: 'p', length: 8 }],
      readPiece: async () => {
        reads++;
        return chunk.subarray(8, 16);
      },
      readRange: async () => chunk.subarray(8, 16),
    };
    const c = cost();
    const cache = new PieceCache(side, c);
    await cache.get(0);
    const again = await cache.get(0);
    expect(reads).toBe(1);
    expect(c.piecesRead).toBe(1);
    expect(Buffer.from(again).toString()).toBe('{"a":2}\n');
    expect(again.buffer.byteLength).toBe(8);
  });
});
