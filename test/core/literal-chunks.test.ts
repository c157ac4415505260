/**
 * The literal pieces of a span-coded version (ingest.ts, LiteralChunks): the encoder reads each chunk it
 * re-reads into one reused buffer, so the pieces' bytes must be copied before the next chunk is read. With a
 * window that keeps no unmatched bytes, every edited chunk is read again to be encoded, and the literal
 * pieces of many chunks are gathered into each literal chunk: the version must still read back byte for
 * byte.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, commit, Repository } from '../../src/core/index.js';
import { readFile } from '../../src/core/object-reader.js';
import { ingestFile } from '../../src/core/worktree/ingest.js';
import { formatFor } from '../../src/core/worktree/formats.js';
import { tempDir } from './helpers.js';

const line = (i: number, edited = false): string =>
  JSON.stringify({
    id: i,
    text: `${edited ? 'EDITED ' : ''}example number ${i} `.repeat(1 + (i % 4)),
  }) + '\n';

let dir: string;
let repo: Repository;
let previous: string;

beforeAll(async () => {
  dir = tempDir('strata-literal-chunks-');
  repo = Repository.init(dir, { chunking: { min: 256, avg: 1024, max: 4096 } });
  writeFileSync(join(dir, 'data.jsonl'), Array.from({ length: 3000 }, (_, i) => line(i)).join(''));
  await add(repo, ['data.jsonl']);
  const c = (await commit(repo, { message: 'v0' })).commit;
  previous = repo.objects.tree(repo.objects.commit(c).tree).entries[0]!.hash;
});
afterAll(() => repo.close());

describe('literal pieces of a span-coded version', () => {
  it('are copied out of the encoder’s reused read buffer: every edited chunk re-read, the version reads back', async () => {
    // One record in eleven edited: most chunks keep records to reuse and get a literal piece.
    const v1 = Array.from({ length: 3000 }, (_, i) => line(i, i % 11 === 5)).join('');
    const path = join(dir, 'data.jsonl');
    writeFileSync(path, v1);
    const r = await ingestFile(repo, path, formatFor('data.jsonl', {}), {
      store: true,
      previous: previous as never,
      limits: { window: 2, keepUnmatched: 0, keepBytes: 0 },
    });
    const m = repo.objects.manifest(r.manifest);
    expect((m as { content?: string }).content, 'span-coded').toBeDefined();
    const spans = [...repo.objects.spans(m)];
    const old = new Set([...repo.objects.spans(repo.objects.manifest(previous))].map((s) => s[0]));
    const literal = spans.filter((s) => !old.has(s[0]));
    const literalChunks = new Set(literal.map((s) => s[0]));
    // Several chunks' pieces gathered into each literal chunk (else nothing here is shared).
    expect(literal.length).toBeGreaterThan(3 * literalChunks.size);
    const parts: Buffer[] = [];
    for await (const b of readFile(repo.objects, m)) parts.push(Buffer.from(b));
    expect(Buffer.concat(parts).equals(readFileSync(path))).toBe(true);
  });
});
