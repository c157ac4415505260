/**
 * A file's dataset format: declared by `format=` in .strataattributes, else decided by its extension.
 * The format picks the chunker (record-aligned for record formats) and is recorded in the manifest.
 */
import type { ChunkFormat } from '../chunking/index.js';
import { formatFromPath } from '../diff/detect.js';
import type { Attributes } from './attributes.js';

export interface FormatInfo {
  format: string;
  chunkFormat: ChunkFormat;
  /** Format options from attributes (key, CSV dialect ...), recorded in the manifest. */
  options: Record<string, string>;
}

const CHUNKING: Record<string, ChunkFormat> = { jsonl: 'jsonl', csv: 'csv', tsv: 'tsv', text: 'text' };

/** The chunker of a format's files: record-aligned for the record formats, else FastCDC (binary). */
export const chunkFormatOf = (format: string): ChunkFormat => CHUNKING[format] ?? 'binary';

export function formatFor(path: string, attrs: Attributes): FormatInfo {
  // One extension table for storing and diffing (src/core/diff/detect.ts).
  const format = attrs.format ?? formatFromPath(path);
  const chunkFormat = chunkFormatOf(format);
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (k !== 'format') options[k] = v;
  return { format, chunkFormat, options };
}
