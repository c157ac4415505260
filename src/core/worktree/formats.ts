/**
 * A file's dataset format: declared by `format=` in .strataattributes, else decided by its extension.
 * The format picks the chunker (record-aligned for record formats) and is recorded in the manifest.
 */
import { chunkFormatForPath, type ChunkFormat } from '../chunking/index.js';
import type { Attributes } from './attributes.js';

export interface FormatInfo {
  format: string;
  chunkFormat: ChunkFormat;
  /** Format options from attributes (key, CSV dialect ...), recorded in the manifest. */
  options: Record<string, string>;
}

const BY_EXT: Record<string, string> = {
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  csv: 'csv',
  tsv: 'tsv',
  parquet: 'parquet',
  txt: 'text',
  md: 'text',
};

const CHUNKING: Record<string, ChunkFormat> = { jsonl: 'jsonl', csv: 'csv', tsv: 'tsv', text: 'text' };

export function formatFor(path: string, attrs: Attributes): FormatInfo {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? '';
  const format = attrs.format ?? BY_EXT[ext] ?? 'binary';
  const chunkFormat = CHUNKING[format] ?? (attrs.format ? 'binary' : chunkFormatForPath(path));
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (k !== 'format') options[k] = v;
  return { format, chunkFormat, options };
}
