import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Chunker, GEAR_TABLE_HASH, GEAR_VALUES, type ChunkFormat } from '../../src/core/chunking/index.js';
import { CSV_ALPHABET, TEXT_ALPHABET, vectorInput } from './vectors.js';

// docs/FORMAT.md is what another implementation is written from: its table and vectors must be the code's.
const doc = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const start = doc.indexOf('## Chunking');
const next = doc.indexOf('\n## ', start + 1);
const section = doc.slice(start, next < 0 ? undefined : next);

describe('docs/FORMAT.md "Chunking"', () => {
  it('prints the gear table and its hash as the code has them', () => {
    const block = section.slice(section.indexOf('The table, row by row'));
    const values = [
      ...block.slice(0, block.indexOf('```', block.indexOf('```') + 3)).matchAll(/0x([0-9a-f]{8})/g),
    ].map((m) => parseInt(m[1]!, 16));
    expect(values).toEqual(GEAR_VALUES);
    expect(section).toContain(GEAR_TABLE_HASH);
  });

  it('lists the chunk lengths the code produces for the test vectors', () => {
    const inputs: Record<string, Uint8Array> = {
      text: vectorInput(TEXT_ALPHABET),
      CSV: vectorInput(CSV_ALPHABET),
    };
    const rows = [...section.matchAll(/^\|\s*(text|CSV)\s*\|([^|]+)\|([\d,\s]+)\|\s*$/gm)];
    expect(rows.length).toBe(6);
    for (const [, input, formats, list] of rows) {
      const want = list!.split(',').map((x) => Number(x.trim()));
      for (const f of formats!.match(/`(\w+)`/g)!.map((x) => x.slice(1, -1) as ChunkFormat)) {
        const c = new Chunker(f);
        const got = [...c.push(inputs[input!]!), ...c.finish()].map((x) => x.length);
        expect(got, `${input} ${f}`).toEqual(want);
      }
    }
  });
});
