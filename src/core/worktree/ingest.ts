/**
 * Turns a working-tree file into a file manifest: stream it through the chunker, hash every chunk and
 * (unless `store` is false, as for `status`) store the chunks new to the repository.
 *
 * When a record file's previous version is known (`previous`, a manifest), storing takes two passes: the
 * first only chunks and hashes; then the new chunks are delta-coded against the records of the chunks the
 * previous version no longer uses (delta-encoder.ts), and those that mostly match are stored as recipes
 * (codec 2) instead of in full. The manifest is the same either way.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import type { Hash } from '../../storage/hash.js';
import { hashBytes } from '../../storage/hash.js';
import { chunkStream } from '../chunking/index.js';
import type { Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';
import { StrataError } from '../../storage/errors.js';
import { ChunkSink } from './chunk-sink.js';
import { DeltaEncoder, YIELD_EVERY, yieldToEventLoop } from './delta-encoder.js';
import type { FormatInfo } from './formats.js';

export interface IngestResult {
  manifest: Hash;
  size: number;
  examples?: number;
}

const RECORD_FORMATS = new Set(['jsonl', 'text']);
/** Formats whose new chunks may be delta-coded against the previous version. */
const DELTA_FORMATS = new Set(['jsonl', 'text', 'csv', 'tsv']);
/** New chunks kept in memory between the passes; beyond this they are re-read from the file. */
const KEEP_BYTES = 64 << 20;

interface NewChunk {
  hash: string;
  offset: number;
  length: number;
  data?: Uint8Array;
}

export async function ingestFile(
  repo: Repository,
  absPath: string,
  fmt: FormatInfo,
  opts: { store: boolean; onBytes?: (n: number) => void; previous?: Hash },
): Promise<IngestResult> {
  const spans: Span[] = [];
  let size = 0;
  let newlines = 0;
  let lastByte = -1;
  const countRecords = RECORD_FORMATS.has(fmt.format);
  const src = createReadStream(absPath, { highWaterMark: 1 << 20 });
  const sink = opts.store ? new ChunkSink(repo.objects.packs) : undefined;
  const packs = repo.objects.packs;
  // Two-pass (delta) mode: pass 1 only collects the chunks new to the repository.
  const delta =
    opts.store && opts.previous !== undefined && DELTA_FORMATS.has(fmt.format) && packs.has(opts.previous);
  const fresh: NewChunk[] = [];
  const freshSet = new Set<string>();
  let kept = 0;
  for await (const chunk of chunkStream(src as AsyncIterable<Uint8Array>, fmt.chunkFormat, repo.chunking)) {
    const h = hashBytes(chunk);
    if (delta) {
      if (!freshSet.has(h) && !packs.has(h)) {
        freshSet.add(h);
        const keep = kept + chunk.length <= KEEP_BYTES;
        if (keep) kept += chunk.length;
        fresh.push({
          hash: h,
          offset: size,
          length: chunk.length,
          ...(keep ? { data: Uint8Array.prototype.slice.call(chunk) } : {}),
        });
      }
    } else if (sink) await sink.add(h, chunk);
    spans.push([h, 0, chunk.length]);
    size += chunk.length;
    if (countRecords) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) newlines++;
      lastByte = chunk[chunk.length - 1]!;
    }
    opts.onBytes?.(chunk.length);
  }
  if (delta && sink && fresh.length) {
    const keepSet = new Set(spans.map((sp) => sp[0]));
    const enc = await DeltaEncoder.build(repo, opts.previous!, keepSet);
    const fd = fresh.some((c) => !c.data) ? openSync(absPath, 'r') : undefined;
    try {
      for (const [i, c] of fresh.entries()) {
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
        const data = c.data ?? readAt(fd!, c.offset, c.length, absPath);
        if (!c.data && hashBytes(data) !== c.hash) {
          throw new StrataError('CONFLICT', `${absPath} changed while it was being added`, { path: absPath });
        }
        c.data = undefined;
        const ops = enc?.encode(data);
        if (ops) packs.putDelta(c.hash, data.length, ops);
        else await sink.add(c.hash, data);
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  await sink?.finish();
  repo.counters.filesHashed++;
  repo.counters.bytesHashed += size;
  const examples = countRecords ? newlines + (size > 0 && lastByte !== 10 ? 1 : 0) : undefined;
  const fields = {
    size,
    format: fmt.format,
    ...(Object.keys(fmt.options).length ? { options: fmt.options } : {}),
    ...(examples !== undefined ? { examples } : {}),
  };
  const manifest = repo.objects.putManifest(fields, spans, opts.store);
  return { manifest, size, ...(examples !== undefined ? { examples } : {}) };
}

function readAt(fd: number, offset: number, length: number, path: string): Uint8Array {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw new StrataError('CONFLICT', `${path} shrank while it was being added`, { path });
    got += n;
  }
  return buf;
}
