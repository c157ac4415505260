/**
 * Deterministic pseudo-random numbers for the benchmark generator. Never Math.random: the same seed must
 * give the same bytes on every machine and Node version.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded through murmur3's finalizer so that
 * streams keyed by (seed, a, b) - e.g. (seed, example index, revision) - are independent of each other.
 */

/** murmur3 fmix32: a bijective 32-bit avalanche mix. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for the stream keyed by (seed, a, b); all three are treated as unsigned 32-bit integers. */
  constructor(seed: number, a = 0, b = 0) {
    const s = mix32(seed ^ 0x9e3779b9);
    this.a = mix32(s ^ mix32(a + 0x7f4a7c15));
    this.b = mix32(this.a ^ mix32(b + 0x1b873593));
    this.c = mix32(this.b ^ 0xcc9e2d51);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Next unsigned 32-bit integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** k distinct integers from [0, n), sorted ascending (partial Fisher-Yates; O(n) memory as a Uint32Array). */
export function sampleDistinct(rng: Rng, n: number, k: number): Uint32Array {
  if (k > n) throw new Error(`cannot sample ${k} of ${n}`);
  const pool = new Uint32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = pool[i] as number;
    pool[i] = pool[j] as number;
    pool[j] = t;
  }
  return pool.slice(0, k).sort();
}

/** In-place Fisher-Yates shuffle. */
export function shuffleInPlace(rng: Rng, items: Uint32Array): Uint32Array {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i] as number;
    items[i] = items[j] as number;
    items[j] = t;
  }
  return items;
}
