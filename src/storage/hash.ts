/**
 * BLAKE3-256, lowercase hex. The native implementation (@napi-rs/blake-hash, ~4 GB/s) is used where its
 * prebuilt binary loads; blake3-wasm is the portable fallback. Both are checked against the official test
 * vectors in test/hash.test.ts. Set STRATA_BLAKE3=wasm to force the fallback.
 */
import { createRequire } from 'node:module';
import { bufferView } from './buffer-view.js';

export type Hash = string & { readonly __brand: 'Hash' };

export const HASH_HEX_LENGTH = 64;
const HEX_RE = /^[0-9a-f]{64}$/;

export interface Blake3Impl {
  readonly name: 'native' | 'wasm';
  hash(data: Uint8Array): Buffer;
  hasher(): { update(data: Uint8Array): void; digest(): Buffer };
}

const require = createRequire(import.meta.url);

/** The prebuilt binary package for this platform, where there is one under a name we can tell. */
const PLATFORM_PACKAGE: Record<string, string> = {
  'linux-x64': '@napi-rs/blake-hash-linux-x64-gnu',
  'linux-arm64': '@napi-rs/blake-hash-linux-arm64-gnu',
  'darwin-x64': '@napi-rs/blake-hash-darwin-x64',
  'darwin-arm64': '@napi-rs/blake-hash-darwin-arm64',
  'win32-x64': '@napi-rs/blake-hash-win32-x64-msvc',
};

/**
 * @napi-rs/blake-hash's own loader tells glibc from musl with process.report.getReport(), ~10 ms of every
 * start-up; so the binary package for this platform is required directly first, and the package's loader
 * is the fallback (musl, other platforms, a layout where the binary package is not resolvable from here).
 */
function requireNative(): typeof import('@napi-rs/blake-hash') {
  const direct = PLATFORM_PACKAGE[`${process.platform}-${process.arch}`];
  if (direct) {
    try {
      return require(direct) as typeof import('@napi-rs/blake-hash');
    } catch {
      /* not installed here, or not loadable (e.g. a gnu binary on musl) */
    }
  }
  return require('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash');
}

function loadNative(): Blake3Impl | undefined {
  try {
    const m = requireNative();
    return {
      name: 'native',
      hash: (d) => m.blake3(bufferView(d)),
      hasher: () => {
        const h = new m.Blake3Hasher();
        return { update: (d) => void h.update(bufferView(d)), digest: () => h.digestBuffer() };
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

/**
 * The implementation in use, loaded at the first hash: a no-op `status` hashes nothing, and loading the
 * native binary was ~7 ms of its start-up.
 */
let impl: Blake3Impl | undefined;
const active = (): Blake3Impl =>
  (impl ??= (process.env.STRATA_BLAKE3 === 'wasm' ? undefined : loadNative()) ?? wasmBlake3());
/** Which implementation hashes here: 'native' or 'wasm' (loads it). */
export const blake3Impl = (): Blake3Impl['name'] => active().name;

export function hashBytes(data: Uint8Array): Hash {
  return active().hash(data).toString('hex') as Hash;
}

/** Raw 32-byte digest. */
export function hashBytesRaw(data: Uint8Array): Buffer {
  return active().hash(data);
}

export function createHasher(): { update(data: Uint8Array): void; digestHex(): Hash } {
  const h = active().hasher();
  return { update: (d) => h.update(d), digestHex: () => h.digest().toString('hex') as Hash };
}

export function isHash(s: string): s is Hash {
  return HEX_RE.test(s);
}

export function asHash(s: string): Hash {
  if (!isHash(s)) throw new Error(`not a hash: ${JSON.stringify(s)}`);
  return s;
}
