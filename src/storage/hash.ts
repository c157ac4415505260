/**
 * BLAKE3-256, lowercase hex. The native implementation (@napi-rs/blake-hash, ~4 GB/s) is used where its
 * prebuilt binary loads; blake3-wasm is the portable fallback. Both are checked against the official test
 * vectors in test/hash.test.ts. Set STRATA_BLAKE3=wasm to force the fallback.
 */
import { createRequire } from 'node:module';

export type Hash = string & { readonly __brand: 'Hash' };

export const HASH_HEX_LENGTH = 64;
const HEX_RE = /^[0-9a-f]{64}$/;

export interface Blake3Impl {
  readonly name: 'native' | 'wasm';
  hash(data: Uint8Array): Buffer;
  hasher(): { update(data: Uint8Array): void; digest(): Buffer };
}

const require = createRequire(import.meta.url);

/** A zero-copy Buffer view (the native binding's types take Buffers). */
const asBuffer = (d: Uint8Array): Buffer =>
  Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);

function loadNative(): Blake3Impl | undefined {
  try {
    const m = require('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash');
    return {
      name: 'native',
      hash: (d) => m.blake3(asBuffer(d)),
      hasher: () => {
        const h = new m.Blake3Hasher();
        return { update: (d) => void h.update(asBuffer(d)), digest: () => h.digestBuffer() };
      },
    };
  } catch {
    return undefined;
  }
}

function loadWasm(): Blake3Impl {
  const m = require('blake3-wasm') as typeof import('blake3-wasm');
  return {
    name: 'wasm',
    hash: (d) => m.hash(d) as Buffer,
    hasher: () => {
      const h = m.createHash();
      return { update: (d) => void h.update(d), digest: () => h.digest() as Buffer };
    },
  };
}

let wasm: Blake3Impl | undefined;
/** The portable implementation (exported so tests can prove both agree). */
export const wasmBlake3 = (): Blake3Impl => (wasm ??= loadWasm());
/** The native implementation, or undefined where its binary does not load. */
export const nativeBlake3 = (): Blake3Impl | undefined => loadNative();

const impl: Blake3Impl = (process.env.STRATA_BLAKE3 === 'wasm' ? undefined : loadNative()) ?? wasmBlake3();
export const blake3Impl = impl.name;

export function hashBytes(data: Uint8Array): Hash {
  return impl.hash(data).toString('hex') as Hash;
}

/** Raw 32-byte digest. */
export function hashBytesRaw(data: Uint8Array): Buffer {
  return impl.hash(data);
}

export function createHasher(): { update(data: Uint8Array): void; digestHex(): Hash } {
  const h = impl.hasher();
  return { update: (d) => h.update(d), digestHex: () => h.digest().toString('hex') as Hash };
}

export function isHash(s: string): s is Hash {
  return HEX_RE.test(s);
}

export function asHash(s: string): Hash {
  if (!isHash(s)) throw new Error(`not a hash: ${JSON.stringify(s)}`);
  return s;
}
