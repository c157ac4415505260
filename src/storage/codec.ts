/**
 * Per-object compression. Each stored object records its codec, so readers never guess and a repository
 * can mix codecs. zstd (level 3 by default, src/storage/zstd.ts); `none` when compression does not
 * pay for itself (already-compressed data). Codec 2 (CODEC_DELTA, below) is a storage form for chunks, not a
 * byte codec.
 */
import { StrataError } from './errors.js';
import { zstdCompress, zstdDecompress } from './zstd.js';

export const CODEC_NONE = 0;
export const CODEC_ZSTD = 1;
export type Codec = typeof CODEC_NONE | typeof CODEC_ZSTD;

/**
 * Compresses with zstd; returns the raw bytes with CODEC_NONE when that is not smaller by at least 1/16.
 * With `view`, zstd bytes are a view of a scratch buffer that the next call overwrites (zstdCompress).
 */
export function encode(data: Uint8Array, level = 3, view = false): { codec: Codec; bytes: Uint8Array } {
  if (data.length < 64) return { codec: CODEC_NONE, bytes: data };
  const z = zstdCompress(data, level, view);
  if (z.length > data.length - (data.length >> 4)) return { codec: CODEC_NONE, bytes: data };
  return { codec: CODEC_ZSTD, bytes: z };
}

/** Decodes stored bytes; `rawLength`, when known, is checked against the result. */
export function decode(codec: number, bytes: Uint8Array, rawLength?: number): Uint8Array {
  switch (codec) {
    case CODEC_NONE:
      return bytes;
    case CODEC_ZSTD:
      try {
        return zstdDecompress(bytes, rawLength);
      } catch (e) {
        throw new StrataError('INTEGRITY', 'zstd frame does not decode', {}, { cause: e });
      }
    case 2: // CODEC_DELTA
      throw new StrataError(
        'UNSUPPORTED_VERSION',
        'a delta-coded chunk must be resolved through its pack store',
        {
          codec,
        },
      );
    default:
      throw new StrataError('UNSUPPORTED_VERSION', `unknown codec ${codec}`, { codec });
  }
}

/**
 * Codec 2 marks a delta-coded chunk (docs/FORMAT.md, "Delta-coded chunks"). It is not a byte codec: the
 * payload is one zstd frame of a recipe whose ops, concatenated, give the chunk's bytes:
 *   0x00 | u32le len | len literal bytes
 *   0x01 | base hash (32 raw bytes) | u32le offset | u32le length      (a range of a codec 0/1 chunk)
 * Resolving it needs other objects, so LocalPacks does that, not decode().
 */
export const CODEC_DELTA = 2;
export type StoredCodec = Codec | typeof CODEC_DELTA;

export type DeltaOp =
  { kind: 'lit'; data: Uint8Array } | { kind: 'ref'; base: string; offset: number; length: number };

const OP_LIT = 0x00;
const OP_REF = 0x01;

/** Serializes and zstd-compresses a recipe. */
export function encodeRecipe(ops: readonly DeltaOp[], level = 3): Uint8Array {
  let size = 0;
  for (const op of ops) size += op.kind === 'lit' ? 5 + op.data.length : 41;
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  for (const op of ops) {
    if (op.kind === 'lit') {
      b[at] = OP_LIT;
      b.writeUInt32LE(op.data.length, at + 1);
      b.set(op.data, at + 5);
      at += 5 + op.data.length;
    } else {
      b[at] = OP_REF;
      b.write(op.base, at + 1, 32, 'hex');
      b.writeUInt32LE(op.offset, at + 33);
      b.writeUInt32LE(op.length, at + 37);
      at += 41;
    }
  }
  return zstdCompress(b, level);
}

/** Decompresses and parses a recipe; throws INTEGRITY if it is malformed. */
export function decodeRecipe(bytes: Uint8Array): DeltaOp[] {
  const b = Buffer.from(decode(CODEC_ZSTD, bytes));
  const ops: DeltaOp[] = [];
  let at = 0;
  const bad = (): never => {
    throw new StrataError('INTEGRITY', 'delta recipe is malformed', { at });
  };
  while (at < b.length) {
    const t = b[at];
    if (t === OP_LIT) {
      if (at + 5 > b.length) bad();
      const len = b.readUInt32LE(at + 1);
      if (at + 5 + len > b.length) bad();
      ops.push({ kind: 'lit', data: b.subarray(at + 5, at + 5 + len) });
      at += 5 + len;
    } else if (t === OP_REF) {
      if (at + 41 > b.length) bad();
      ops.push({
        kind: 'ref',
        base: b.toString('hex', at + 1, at + 33),
        offset: b.readUInt32LE(at + 33),
        length: b.readUInt32LE(at + 37),
      });
      at += 41;
    } else bad();
  }
  return ops;
}
