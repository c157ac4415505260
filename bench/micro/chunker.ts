/**
 * Micro-benchmark of src/core/chunking: throughput per format, and — to choose the parameters — chunk
 * count and the fraction of bytes re-stored after a 1% scattered in-place edit, per parameter set.
 *
 *   node --import tsx bench/micro/chunker.ts [MiB]     (default 256)
 *
 * The data is synthetic chat JSONL (~1 KiB per example) from a fixed PRNG, built in memory, and the same
 * examples as CSV (header + quoted fields with embedded newlines).
 */
import {
  Chunker,
  DEFAULT_CHUNK_PARAMS,
  type ChunkFormat,
  type ChunkParams,
} from '../../src/core/chunking/index.js';
import { hashBytes } from '../../src/storage/hash.js';
import { availableParallelism, loadavg } from 'node:os';

const MIB = 1 << 20;
const targetBytes = Number(process.argv[2] ?? 256) * MIB;
const PUSH_BYTES = MIB; // what a file stream would hand over

function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const rnd = xorshift32(20240601);
const VOCAB = Array.from({ length: 4096 }, () => {
  const n = 2 + (rnd() % 9);
  let w = '';
  for (let i = 0; i < n; i++) w += String.fromCharCode(97 + (rnd() % 26));
  return w;
});

function sentence(words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(VOCAB[rnd() % VOCAB.length]!);
  return out.join(' ');
}

interface Example {
  id: string;
  system: string;
  user: string;
  assistant: string;
}

function makeExample(i: number): Example {
  const paragraphs = 1 + (rnd() % 3);
  const answer = Array.from({ length: paragraphs }, () => sentence(25 + (rnd() % 40))).join('\n\n');
  return {
    id: `ex-${i.toString().padStart(8, '0')}`,
    system: 'You are a helpful assistant.',
    user: `${sentence(8 + (rnd() % 30))}?`,
    assistant: answer,
  };
}

const jsonlLine = (e: Example): string =>
  JSON.stringify({
    id: e.id,
    messages: [
      { role: 'system', content: e.system },
      { role: 'user', content: e.user },
      { role: 'assistant', content: e.assistant },
    ],
  }) + '\n';

const csvField = (s: string): string => `"${s.replaceAll('"', '""')}"`;
const csvLine = (e: Example): string =>
  [e.id, csvField(e.system), csvField(e.user), csvField(e.assistant)].join(',') + '\n';

/** Edits one word of the assistant answer in place (the example keeps its position). */
function edit(e: Example): Example {
  const words = e.assistant.split(' ');
  const k = rnd() % words.length;
  words[k] = `${VOCAB[rnd() % VOCAB.length]!}-edited`;
  return { ...e, assistant: words.join(' ') };
}

function build(examples: Example[], line: (e: Example) => string, header = ''): Buffer {
  return Buffer.from(header + examples.map(line).join(''));
}

function chunk(data: Buffer, format: ChunkFormat, params: ChunkParams): Uint8Array[] {
  const c = new Chunker(format, params);
  const out: Uint8Array[] = [];
  for (let p = 0; p < data.length; p += PUSH_BYTES) out.push(...c.push(data.subarray(p, p + PUSH_BYTES)));
  out.push(...c.finish());
  return out;
}

/**
 * Best of five runs, in MB/s of wall time and of process CPU time. On a shared machine the CPU-time figure
 * is the closer estimate of what the code does on an idle one; both are printed with the load average.
 */
function throughput(data: Buffer, format: ChunkFormat, params: ChunkParams): { wall: number; cpu: number } {
  let wall = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    const t = process.hrtime.bigint();
    chunk(data, format, params);
    wall = Math.min(wall, Number(process.hrtime.bigint() - t) / 1e9);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  return { wall: data.length / 1e6 / wall, cpu: data.length / 1e6 / cpu };
}

/** Bytes of `after`'s chunks that `before` does not have, as a fraction of `after`'s size. */
function restored(before: Uint8Array[], after: Uint8Array[]): number {
  const have = new Set(before.map((c) => hashBytes(c)));
  let fresh = 0;
  let total = 0;
  for (const c of after) {
    total += c.length;
    if (!have.has(hashBytes(c))) fresh += c.length;
  }
  return fresh / total;
}

// Build the data set.
const t0 = Date.now();
const examples: Example[] = [];
for (let size = 0; size < targetBytes;) {
  const e = makeExample(examples.length);
  examples.push(e);
  size += jsonlLine(e).length;
}
const edited = examples.slice();
const nEdits = Math.round(examples.length / 100);
for (let k = 0; k < nEdits; k++) {
  const i = rnd() % edited.length;
  edited[i] = edit(edited[i]!);
}
const CSV_HEADER = 'id,system,user,assistant\n';
const jsonl = build(examples, jsonlLine);
const jsonlEdited = build(edited, jsonlLine);
const csv = build(examples, csvLine, CSV_HEADER);
const csvEdited = build(edited, csvLine, CSV_HEADER);
console.log(
  `data: ${examples.length} examples, JSONL ${(jsonl.length / MIB).toFixed(0)} MiB ` +
    `(${(jsonl.length / examples.length).toFixed(0)} B/example), CSV ${(csv.length / MIB).toFixed(0)} MiB, ` +
    `${nEdits} examples edited in place; built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
// Drop the example objects: with a heap of half a GiB of strings every GC costs far more than in real
// use, and the chunker's few allocations would be measured through it.
examples.length = 0;
edited.length = 0;

console.log(
  `\nthroughput, params ${JSON.stringify(DEFAULT_CHUNK_PARAMS)}, pushed in 1 MiB buffers, best of 5 ` +
    `(load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, ${availableParallelism()} CPUs):`,
);
const inputs: Record<ChunkFormat, Buffer> = { jsonl, text: jsonl, csv, tsv: csv, binary: jsonl };
for (const f of ['jsonl', 'text', 'csv', 'binary'] as const) {
  chunk(inputs[f].subarray(0, 32 * MIB), f, DEFAULT_CHUNK_PARAMS); // warm-up
  const { wall, cpu } = throughput(inputs[f], f, DEFAULT_CHUNK_PARAMS);
  console.log(
    `  ${f.padEnd(7)} ${wall.toFixed(0).padStart(5)} MB/s wall  ${cpu.toFixed(0).padStart(5)} MB/s CPU time`,
  );
}

const PARAM_SETS: Array<[string, ChunkParams]> = [
  ['4/16/64 KiB', { min: 4 * 1024, avg: 16 * 1024, max: 64 * 1024 }],
  ['8/32/128 KiB', { min: 8 * 1024, avg: 32 * 1024, max: 128 * 1024 }],
  ['2/8/32 KiB', { min: 2 * 1024, avg: 8 * 1024, max: 32 * 1024 }],
];
console.log('\nparameters (1% of examples edited in place at scattered positions):');
console.log('  format  params         chunks   mean size  re-stored');
for (const [f, before, after] of [
  ['jsonl', jsonl, jsonlEdited],
  ['csv', csv, csvEdited],
  ['binary', jsonl, jsonlEdited],
] as const) {
  for (const [name, params] of PARAM_SETS) {
    const a = chunk(before, f, params);
    const b = chunk(after, f, params);
    const mean = before.length / a.length / 1024;
    console.log(
      `  ${f.padEnd(7)} ${name.padEnd(13)} ${String(a.length).padStart(7)} ${mean.toFixed(1).padStart(8)} KiB` +
        `  ${(restored(a, b) * 100).toFixed(1).padStart(6)}%`,
    );
  }
}
