/**
 * Per-object compression. Each stored object records its codec, so readers never guess and a repository
 * can mix codecs. zstd (level 3 by default) via @toondepauw/node-zstd; `none` when compression does not
 * pay for itself (already-compressed data).
 */
import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { StrataError } from './errors.js';

export const CODEC_NONE = 0;
export const CODEC_ZSTD = 1;
export type Codec = typeof CODEC_NONE | typeof CODEC_ZSTD;

const encoders = new Map<number, Encoder>();
const decoder = new Decoder();

/** Compresses with zstd; returns the raw bytes with CODEC_NONE when that is not smaller by at least 1/16. */
export function encode(data: Uint8Array, level = 3): { codec: Codec; bytes: Uint8Array } {
  if (data.length < 64) return { codec: CODEC_NONE, bytes: data };
  let enc = encoders.get(level);
  if (!enc) encoders.set(level, (enc = new Encoder(level)));
  const z = enc.encodeSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  if (z.length > data.length - (data.length >> 4)) return { codec: CODEC_NONE, bytes: data };
  return { codec: CODEC_ZSTD, bytes: z };
}

export function decode(codec: number, bytes: Uint8Array): Uint8Array {
  switch (codec) {
    case CODEC_NONE:
      return bytes;
    case CODEC_ZSTD:
      try {
        return decoder.decodeSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } catch (e) {
        throw new StrataError('INTEGRITY', 'zstd frame does not decode', {}, { cause: e });
      }
    default:
      throw new StrataError('UNSUPPORTED_VERSION', `unknown codec ${codec}`, { codec });
  }
}
