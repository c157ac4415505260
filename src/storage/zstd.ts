/**
 * zstd through zstd-napi's one-shot contexts. Compression writes into a reused bound-sized buffer and
 * copies out exactly the frame; decompression writes into a buffer of exactly the size the frame header
 * (or the caller) states. Chosen over @toondepauw/node-zstd, whose decodeSync grew RSS by about 1.7 GB per
 * GB decoded (measured: bench/NOTES.md).
 */
import { createRequire } from 'node:module';
import { StrataError } from './errors.js';

interface Binding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(n: number): number;
  getFrameContentSize(frame: Uint8Array): number | null;
}

/** The binding and its two contexts, loaded at the first use: a no-op `status` (~4 ms of it) needs none. */
let zstd:
  { binding: Binding; cctx: InstanceType<Binding['CCtx']>; dctx: InstanceType<Binding['DCtx']> } | undefined;
function load(): NonNullable<typeof zstd> {
  if (!zstd) {
    const binding = createRequire(import.meta.url)('zstd-napi/binding') as Binding;
    zstd = { binding, cctx: new binding.CCtx(), dctx: new binding.DCtx() };
  }
  return zstd;
}
let scratch = Buffer.allocUnsafe(0);

/**
 * One zstd frame of `data`. With `view`, the frame is a view of this module's scratch buffer, valid until
 * the next call (a caller that copies it at once allocates nothing per call); else a buffer of its own.
 */
export function zstdCompress(data: Uint8Array, level: number, view = false): Buffer {
  const { binding, cctx } = load();
  const bound = binding.compressBound(data.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 256 * 1024));
  const n = cctx.compress(scratch, data, level);
  return view ? scratch.subarray(0, n) : Buffer.from(scratch.subarray(0, n));
}

/**
 * The most bytes `n` bytes of zstd frames can decode to: every block that yields data takes at least 4
 * bytes (3-byte header + 1 byte of an RLE block) and yields at most 128 KiB (ZSTD_BLOCKSIZE_MAX). An
 * output size claimed by a frame header or an index is checked against this before anything is allocated.
 */
export const maxZstdOutput = (n: number): number => Math.ceil(n / 4) * 128 * 1024;

/**
 * Decompresses one frame; `size` is the expected output size when the caller knows it. `into`, if given,
 * receives the bytes instead of a new buffer (its length must be the output size).
 */
export function zstdDecompress(frame: Uint8Array, size?: number, into?: Uint8Array): Uint8Array {
  const { binding, dctx } = load();
  const want = size ?? binding.getFrameContentSize(frame);
  if (want === null || want === undefined)
    throw new StrataError('INTEGRITY', 'zstd frame without a content size', {});
  if (!Number.isSafeInteger(want) || want < 0 || want > maxZstdOutput(frame.length))
    throw new StrataError(
      'INTEGRITY',
      `zstd frame of ${frame.length} bytes cannot decode to the ${want} bytes claimed`,
      { claimed: want, frameBytes: frame.length },
    );
  if (into && into.length !== want)
    throw new StrataError('INTEGRITY', `zstd frame decodes to ${want} bytes, not ${into.length}`, {});
  const out = into ?? Buffer.allocUnsafe(want);
  const n = dctx.decompress(out, frame);
  if (n !== want)
    throw new StrataError('INTEGRITY', `zstd frame decoded to ${n} bytes, expected ${want}`, {});
  return out;
}
