import { vi, type MockInstance } from 'vitest';
import { sharedCompressPool, type CompressPool } from '../../src/storage/compress-pool.js';
import type { LocalPacks } from '../../src/storage/local-packs.js';

/**
 * Makes every `every`-th chunk that `packs.readDecodable` (the batched read-ahead of stored bytes) hands out
 * come back damaged, as if the pack were damaged on the way: one byte flipped, or for a read left to the
 * decoding side (Encoded.src), read from one byte further on. The pack itself stays sound,
 * so a reader that verifies and reads such a chunk again gets its true bytes. Returns the damaged hashes and
 * the spy (mockRestore it).
 */
export function damageReadAhead(
  packs: LocalPacks,
  every: number,
): { victims: Set<string>; spy: { mockRestore(): void } } {
  const readDecodable = packs.readDecodable.bind(packs);
  const victims = new Set<string>();
  let seen = 0;
  const spy = vi.spyOn(packs, 'readDecodable').mockImplementation((hashes, into, opts) => {
    const out = readDecodable(hashes, into, opts);
    out.forEach((e) => {
      if (!e || seen++ % every !== 0) return;
      victims.add(e.hash);
      // Read already: a byte flipped. Left to the decoding side (Encoded.src): read from one byte further on.
      if (e.src) e.src.offset += 1;
      else e.bytes[Math.floor(e.bytes.length / 2)]! ^= 0x40;
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
