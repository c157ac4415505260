/**
 * The boundary test-vector inputs of docs/FORMAT.md "Chunking", generated from a fully specified PRNG so
 * that another implementation can rebuild them byte for byte.
 */

/** xorshift32 (Marsaglia): x ^= x << 13; x ^= x >>> 17; x ^= x << 5, all modulo 2^32. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export const VECTOR_SEED = 0x9e3779b9;
export const VECTOR_LENGTH = 262_144;
/** In [GIANT_FROM, GIANT_TO) a generated '\n' is written as ' ', making one record longer than 64 KiB. */
export const GIANT_FROM = 100_000;
export const GIANT_TO = 250_000;

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** 64 symbols: letters, digits, space, newline. */
export const TEXT_ALPHABET = ALNUM + ' \n';
/** The same with 'Z' replaced by a double quote, so that about half of the newlines fall inside quotes. */
export const CSV_ALPHABET = TEXT_ALPHABET.replace('Z', '"');

/** Byte i is alphabet[r >>> 26] for the i-th output r of xorshift32(VECTOR_SEED). */
export function vectorInput(alphabet: string, length = VECTOR_LENGTH): Uint8Array {
  const next = xorshift32(VECTOR_SEED);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    let c = alphabet.charCodeAt(next() >>> 26);
    if (c === 0x0a && i >= GIANT_FROM && i < GIANT_TO) c = 0x20;
    out[i] = c;
  }
  return out;
}
