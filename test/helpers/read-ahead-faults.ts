import { vi, type MockInstance } from 'vitest';
import { sharedCompressPool, type CompressPool } from '../../src/storage/compress-pool.js';
import type { LocalPacks } from '../../src/storage/local-packs.js';

/**
 * Makes every `every`-th chunk that `packs.readEncodedShared` (the batched read-ahead of stored bytes) hands
 * out come back with one byte flipped, as if the pack were damaged on the way; the pack itself stays sound,
 * so a reader that verifies and reads such a chunk again gets its true bytes. Returns the damaged hashes and
 * the spy (mockRestore it).
 */
export function damageReadAhead(
  packs: LocalPacks,
  every: number,
): { victims: Set<string>; spy: { mockRestore(): void } } {
  const readShared = packs.readEncodedShared.bind(packs);
  const victims = new Set<string>();
  let seen = 0;
  const spy = vi.spyOn(packs, 'readEncodedShared').mockImplementation((hashes, into) => {
    const out = readShared(hashes, into);
    hashes.forEach((h, k) => {
      const loc = out.locations[k];
      if (!loc || loc.kind !== 0 || seen++ % every !== 0) return;
      victims.add(h);
      new Uint8Array(out.buffer)[out.at[k]! + Math.floor(loc.length / 2)]! ^= 0x40;
    });
    return out;
  });
  return { victims, spy };
}

/**
 * Makes the shared pool's decoding (decodeKeyed, which decode calls too) answer each batch only after `ms` (a
 * busy decoding thread).
 */
export function slowDecodePool(ms: number): MockInstance<CompressPool['decodeKeyed']> {
  const pool = sharedCompressPool();
  const decodeOnPool = pool.decodeKeyed.bind(pool);
  return vi
    .spyOn(pool, 'decodeKeyed')
    .mockImplementation(
      (...args) => new Promise((resolve) => setTimeout(() => resolve(decodeOnPool(...args)), ms)),
    );
}
