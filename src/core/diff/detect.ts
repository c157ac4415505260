import type { FileFormat } from './types.js';

const BY_EXTENSION: Record<string, FileFormat> = {
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  csv: 'csv',
  tsv: 'tsv',
  parquet: 'parquet',
  pq: 'parquet',
  txt: 'text',
  text: 'text',
  md: 'text',
};

/** The format a path's extension implies, when `.strataattributes` declares none (unknown: binary). */
export function formatFromPath(path: string): FileFormat {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = name.lastIndexOf('.');
  return dot > 0 ? (BY_EXTENSION[name.slice(dot + 1)] ?? 'binary') : 'binary';
}
