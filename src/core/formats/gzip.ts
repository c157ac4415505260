/**
 * Record files stored gzip-compressed (`train.jsonl.gz`, `rows.csv.gz`, `data.json.gz`), as datasets are
 * often published. strata stores their bytes as they are (a binary file: compressed bytes have no record
 * boundaries to cut at and do not dedupe by example), and reads the examples inside through a streaming
 * gunzip: `diff`, `examples` and `stats` see the JSONL, CSV, TSV, JSON array or text in them.
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { StrataError } from '../../storage/errors.js';
import { formatFromPath } from '../diff/detect.js';
import type { FileFormat } from '../diff/types.js';

/** The formats a gzip file's content can be read as. */
const CONTENT_FORMATS = new Set<string>(['jsonl', 'json', 'csv', 'tsv', 'text']);

/**
 * The format of the content of a gzip-compressed record file, or undefined when `path` is not one: its name
 * ends in `.gz` and its format is declared (`format=jsonl` in .strataattributes, recorded in the manifest) or
 * implied by the extension before `.gz` (`train.jsonl.gz`: jsonl).
 */
export function gzipContentFormat(path: string, declared?: string): FileFormat | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  if (!name.endsWith('.gz') || name.length <= 3) return undefined;
  const inner = declared && declared !== 'binary' ? declared : formatFromPath(path.slice(0, -3));
  return CONTENT_FORMATS.has(inner) ? (inner as FileFormat) : undefined;
}

/**
 * The decompressed bytes of a gzip stream (concatenated members included), streamed: memory stays bounded
 * whatever the sizes. A stream that is not gzip, is truncated or is damaged fails BAD_INPUT naming `path`;
 * errors of the source (a missing object, a hash mismatch) pass through as they are.
 */
export async function* gunzip(
  source: AsyncIterable<Uint8Array> | Readable,
  path: string,
): AsyncGenerator<Uint8Array> {
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const z = createGunzip();
  let sourceError: unknown;
  input.once('error', (e) => (sourceError ??= e));
  pipeline(input, z, () => {});
  try {
    for await (const piece of z as AsyncIterable<Buffer>) yield piece;
  } catch (e) {
    if (sourceError) throw sourceError;
    throw new StrataError(
      'BAD_INPUT',
      `${path}: not a readable gzip stream (${(e as Error).message})`,
      { path },
      { cause: e },
    );
  } finally {
    input.destroy();
    z.destroy();
  }
}
