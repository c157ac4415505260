/**
 * Turns a working-tree file into a file manifest: stream it through the chunker, hash every chunk and
 * (unless `store` is false, as for `status`) store the chunks new to the repository.
 */
import { createReadStream } from 'node:fs';
import type { Hash } from '../../storage/hash.js';
import { hashBytes } from '../../storage/hash.js';
import { chunkStream } from '../chunking/index.js';
import type { Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';
import { ChunkSink } from './chunk-sink.js';
import type { FormatInfo } from './formats.js';

export interface IngestResult {
  manifest: Hash;
  size: number;
  examples?: number;
}

const RECORD_FORMATS = new Set(['jsonl', 'text']);

export async function ingestFile(
  repo: Repository,
  absPath: string,
  fmt: FormatInfo,
  opts: { store: boolean; onBytes?: (n: number) => void },
): Promise<IngestResult> {
  const spans: Span[] = [];
  let size = 0;
  let newlines = 0;
  let lastByte = -1;
  const countRecords = RECORD_FORMATS.has(fmt.format);
  const src = createReadStream(absPath, { highWaterMark: 1 << 20 });
  const sink = opts.store ? new ChunkSink(repo.objects.packs) : undefined;
  for await (const chunk of chunkStream(src as AsyncIterable<Uint8Array>, fmt.chunkFormat, repo.chunking)) {
    const h = hashBytes(chunk);
    if (sink) await sink.add(h, chunk);
    spans.push([h, 0, chunk.length]);
    size += chunk.length;
    if (countRecords) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) newlines++;
      lastByte = chunk[chunk.length - 1]!;
    }
    opts.onBytes?.(chunk.length);
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
