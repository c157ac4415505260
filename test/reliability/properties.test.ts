/**
 * Property tests (fast-check) for every decoder of stored or on-disk bytes: objects (commit, tree, file
 * manifest, segment), canonical JSON, pack entries and pack indexes, zstd frames and delta recipes, the
 * repository config (.strata/strata.json) and pin lock files.
 *
 * Each decoder must round-trip what its encoder writes, and on arbitrary or mutated input either return a
 * value that meets the decoder's invariants or throw a StrataError with a stable code: never a TypeError
 * or RangeError, never a hang, never an allocation sized by an untrusted length.
 *
 * STRATA_FC_RUNS scales the runs per property (default 1000); docs/reliability/hostile-input.md records
 * what was run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/objects/canonical-json.js';
import {
  checkName,
  decodeCommit,
  decodeManifest,
  decodeSegment,
  decodeTree,
  encodeObject,
  type Commit,
  type FileManifest,
  type MetaObject,
  type Segment,
  type Tree,
  type TreeEntry,
} from '../../src/core/objects/objects.js';
import { formatLock, parseLock, type LockFile } from '../../src/core/pin/lock.js';
import { parseRepoConfig } from '../../src/core/repository.js';
import {
  REMOTE_CONFIG_KEY,
  decodeRemoteRef,
  encodeRemoteRef,
  readRemoteConfig,
} from '../../src/core/remote/layout.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { CODEC_DELTA, decode, decodeRecipe, encodeRecipe, type DeltaOp } from '../../src/storage/codec.js';
import { StrataError, type ErrorCode } from '../../src/storage/errors.js';
import { hashBytes, hashBytesRaw, type Hash } from '../../src/storage/hash.js';
import {
  ENTRY_HEADER_SIZE,
  KIND_NAMES,
  PACK_HEADER_SIZE,
  decodePackIndex,
  encodePackIndex,
  entryHeader,
  packHeader,
  parseEntryHeader,
  scanPackFile,
  type PackEntry,
} from '../../src/storage/pack-format.js';
import { zstdCompress } from '../../src/storage/zstd.js';

const RUNS = Number(process.env.STRATA_FC_RUNS ?? 1000);
/**
 * A fixed seed by default, so that `npm test` (and CI) is repeatable; `STRATA_FC_SEED=random` explores new
 * inputs (fast-check prints the seed of a failure), `STRATA_FC_SEED=<n>` replays one.
 */
const SEED =
  process.env.STRATA_FC_SEED === 'random' ? undefined : Number(process.env.STRATA_FC_SEED ?? 20261126);
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
/** Runs of every property, for the record (printed at the end). */
const tally = new Map<string, number>();
const prop = <T>(name: string, arb: fc.Arbitrary<T>, check: (v: T) => void, runs = RUNS): void => {
  fc.assert(
    fc.property(arb, (v) => {
      tally.set(name, (tally.get(name) ?? 0) + 1);
      check(v);
    }),
    { ...params, numRuns: runs },
  );
};

/** Runs `fn`: returns its value, or undefined if it threw a StrataError with one of `codes`; rethrows anything else. */
function decodesOrRefuses<T>(fn: () => T, codes: readonly ErrorCode[]): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof StrataError))
      throw new Error(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
    if (!codes.includes(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
    expect(e.message.length).toBeGreaterThan(0);
    return undefined;
  }
}

const OBJECT_CODES: ErrorCode[] = ['INTEGRITY', 'UNSUPPORTED_VERSION', 'UNSAFE_PATH'];
const PACK_CODES: ErrorCode[] = ['INTEGRITY', 'UNSUPPORTED_VERSION'];
const OBJ_HASH = 'f'.repeat(64);

// ---- arbitraries --------------------------------------------------------------------------------------

const hashArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString('hex') as Hash);
const nat = fc.nat({ max: 2 ** 40 });
const spanArb = fc.tuple(hashArb, nat, fc.nat({ max: 1 << 20 }));
/** Names a tree may hold: valid, and every odd name fast-check can think of (filtered by the rule). */
const nameArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.constantFrom('a', 'data.jsonl', 'é', '日本', 'x y', '.hidden', '..a', 'a..', '.strata2'),
);
const validName = nameArb.filter((n) => {
  try {
    checkName(n);
    return true;
  } catch {
    return false;
  }
});

const treeArb: fc.Arbitrary<Tree> = fc
  .uniqueArray(
    fc.record({
      name: validName,
      kind: fc.constantFrom('file' as const, 'tree' as const),
      hash: hashArb,
      size: nat,
    }),
    { selector: (e) => Buffer.from(e.name, 'utf8').toString('hex'), maxLength: 12 },
  )
  .map((entries) => ({
    type: 'tree/v1' as const,
    entries: entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name))),
  }));

const manifestArb: fc.Arbitrary<FileManifest> = fc
  .record({
    format: fc.constantFrom('jsonl', 'csv', 'tsv', 'json', 'parquet', 'text', 'binary'),
    options: fc.option(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 6 })),
      {
        nil: undefined,
      },
    ),
    examples: fc.option(nat, { nil: undefined }),
    body: fc.oneof(
      fc.array(spanArb, { maxLength: 10 }).map((spans) => ({ spans })),
      fc
        .array(fc.record({ hash: hashArb, size: fc.nat({ max: 1 << 30 }), spans: fc.nat({ max: 1024 }) }), {
          minLength: 1,
          maxLength: 5,
        })
        .map((segments) => ({ segments })),
    ),
  })
  .map(({ format, options, examples, body }) => {
    const size =
      'spans' in body
        ? body.spans.reduce((a, s) => a + s[2], 0)
        : body.segments.reduce((a, s) => a + s.size, 0);
    const m: FileManifest = { type: 'file/v1', size, format, ...body };
    if (options && Object.keys(options).length) m.options = options;
    if (examples !== undefined) m.examples = examples;
    return m;
  });

const segmentArb: fc.Arbitrary<Segment> = fc
  .array(spanArb, { maxLength: 20 })
  .map((spans) => ({ type: 'segment/v1' as const, spans }));

const commitArb: fc.Arbitrary<Commit> = fc.record({
  type: fc.constant('commit/v1' as const),
  tree: hashArb,
  parents: fc.array(hashArb, { maxLength: 3 }),
  author: fc.record({ name: fc.string(), email: fc.string() }),
  time: fc.integer({ min: 0, max: 2 ** 40 }),
  tz: fc.integer({ min: -720, max: 840 }),
  message: fc.string({ unit: 'binary', maxLength: 40 }),
  meta: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 })) as fc.Arbitrary<
    Record<string, unknown>
  >,
});

// ---- invariants ---------------------------------------------------------------------------------------

const isHex64 = (h: unknown): boolean => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h);
const isNat = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function treeInvariant(t: Tree): void {
  expect(t.type).toBe('tree/v1');
  let prev: Buffer | undefined;
  for (const e of t.entries as TreeEntry[]) {
    expect(() => checkName(e.name)).not.toThrow();
    expect(e.name.toLowerCase()).not.toBe('.strata');
    expect(isHex64(e.hash) && isNat(e.size) && (e.kind === 'file' || e.kind === 'tree')).toBe(true);
    const nb = Buffer.from(e.name, 'utf8');
    if (prev) expect(Buffer.compare(prev, nb)).toBeLessThan(0);
    prev = nb;
  }
}

function spansInvariant(spans: unknown[]): number {
  let total = 0;
  for (const s of spans) {
    expect(Array.isArray(s) && s.length === 3).toBe(true);
    const [h, off, len] = s as [unknown, unknown, unknown];
    expect(isHex64(h) && isNat(off) && isNat(len)).toBe(true);
    total += len as number;
  }
  return total;
}

function manifestInvariant(m: FileManifest): void {
  expect(m.type).toBe('file/v1');
  expect(isNat(m.size) && typeof m.format === 'string').toBe(true);
  expect((m.spans === undefined) !== (m.segments === undefined)).toBe(true);
  if (m.examples !== undefined) expect(isNat(m.examples)).toBe(true);
  if (m.options !== undefined) for (const v of Object.values(m.options)) expect(typeof v).toBe('string');
  if (m.spans) expect(spansInvariant(m.spans)).toBe(m.size);
  else {
    let total = 0;
    for (const s of m.segments!) {
      expect(isHex64(s.hash) && isNat(s.size) && isNat(s.spans)).toBe(true);
      total += s.size;
    }
    expect(total).toBe(m.size);
  }
}

function commitInvariant(c: Commit): void {
  expect(c.type).toBe('commit/v1');
  expect(isHex64(c.tree) && c.parents.every(isHex64)).toBe(true);
  expect(typeof c.author.name === 'string' && typeof c.author.email === 'string').toBe(true);
  expect(Number.isSafeInteger(c.time) && Number.isSafeInteger(c.tz)).toBe(true);
  expect(typeof c.message).toBe('string');
  expect(c.meta && typeof c.meta === 'object' && !Array.isArray(c.meta)).toBe(true);
  // Whatever a decoded commit holds can be re-encoded and printed (no recursion blow-up).
  expect(() => canonicalJson(c)).not.toThrow();
  expect(() => JSON.stringify(c)).not.toThrow();
}

interface Decoder {
  name: string;
  arb: fc.Arbitrary<MetaObject>;
  decode: (b: Uint8Array) => MetaObject;
  invariant: (v: never) => void;
}

const DECODERS: Decoder[] = [
  {
    name: 'decodeCommit',
    arb: commitArb,
    decode: (b) => decodeCommit(b, OBJ_HASH),
    invariant: commitInvariant as never,
  },
  {
    name: 'decodeTree',
    arb: treeArb,
    decode: (b) => decodeTree(b, OBJ_HASH),
    invariant: treeInvariant as never,
  },
  {
    name: 'decodeManifest',
    arb: manifestArb,
    decode: (b) => decodeManifest(b, OBJ_HASH),
    invariant: manifestInvariant as never,
  },
  {
    name: 'decodeSegment',
    arb: segmentArb,
    decode: (b) => decodeSegment(b, OBJ_HASH),
    invariant: ((s: Segment) => {
      expect(s.type).toBe('segment/v1');
      spansInvariant(s.spans);
    }) as never,
  },
];

// ---- mutations ----------------------------------------------------------------------------------------

/** Byte-level damage to an encoding: flips, truncation, insertion, splicing. */
const byteMutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);
type ByteMutation = typeof byteMutation extends fc.Arbitrary<infer T> ? T : never;

function mutateBytes(b: Uint8Array, ms: ByteMutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    if (!out.length) break;
    const at = m.at % out.length;
    if (m.op === 'flip') out[at] = out[at]! ^ (1 << m.bit);
    else if (m.op === 'set') out[at] = m.byte;
    else if (m.op === 'truncate') out = out.subarray(0, at);
    else out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
  }
  return out;
}

/** Structural damage: replaces the value at a random path of the decoded JSON with an arbitrary JSON value. */
function replaceAt(v: unknown, path: number[], replacement: unknown): unknown {
  if (!path.length || v === null || typeof v !== 'object') return replacement;
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  if (!keys.length) return replacement;
  const k = keys[path[0]! % keys.length]!;
  const copy = (Array.isArray(v) ? [...(v as unknown[])] : { ...(v as object) }) as Record<
    string | number,
    unknown
  >;
  copy[k] = replaceAt((v as Record<string | number, unknown>)[k], path.slice(1), replacement);
  return copy;
}

/** Hostile values for the structural mutations: the usual JSON plus the numbers and names that matter. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    -1,
    1.5,
    2 ** 53,
    1e308,
    -0,
    '',
    '.',
    '..',
    '/',
    '\\',
    'a/b',
    '\0',
    '.strata',
    '.STRATA',
    '\ud800',
    null,
    [],
    {},
    'z'.repeat(64),
    'commit/v1',
    'tree/v1',
    'file/v2',
  ),
);

// ---- the properties -----------------------------------------------------------------------------------

describe('metadata object decoders', () => {
  for (const d of DECODERS) {
    describe(d.name, () => {
      it('round-trips what encodeObject writes', () => {
        prop(`${d.name}: round trip`, d.arb, (o) => {
          const bytes = encodeObject(o);
          const back = d.decode(bytes);
          d.invariant(back as never);
          expect(encodeObject(back).equals(bytes)).toBe(true);
        });
      });

      it('arbitrary bytes: a valid value or a StrataError', () => {
        prop(`${d.name}: arbitrary bytes`, fc.uint8Array({ maxLength: 200 }), (b) => {
          const v = decodesOrRefuses(() => d.decode(b), OBJECT_CODES);
          if (v) d.invariant(v as never);
        });
      });

      it('arbitrary JSON: a valid value or a StrataError', () => {
        prop(`${d.name}: arbitrary JSON`, fc.jsonValue({ maxDepth: 4 }), (j) => {
          const v = decodesOrRefuses(() => d.decode(Buffer.from(JSON.stringify(j))), OBJECT_CODES);
          if (v) d.invariant(v as never);
        });
      });

      it('byte-mutated encodings: a valid value or a StrataError', () => {
        prop(
          `${d.name}: byte mutations`,
          fc.tuple(d.arb, fc.array(byteMutation, { minLength: 1, maxLength: 4 })),
          ([o, ms]) => {
            const v = decodesOrRefuses(() => d.decode(mutateBytes(encodeObject(o), ms)), OBJECT_CODES);
            if (v) d.invariant(v as never);
          },
        );
      });

      it('structurally mutated encodings: a valid value or a StrataError', () => {
        prop(
          `${d.name}: structural mutations`,
          fc.tuple(d.arb, fc.array(fc.nat(), { maxLength: 5 }), hostileValue),
          ([o, path, value]) => {
            const mutated = replaceAt(JSON.parse(canonicalJson(o)), path, value);
            const v = decodesOrRefuses(() => d.decode(Buffer.from(JSON.stringify(mutated))), OBJECT_CODES);
            if (v) d.invariant(v as never);
          },
        );
      });
    });
  }

  it('refuses the hostile names a tree may not hold, naming the tree', () => {
    const bad = ['', '.', '..', '/etc', 'a/b', 'a\\b', 'a\0b', '.strata', '.Strata', '\udc00x'];
    for (const name of bad) {
      const t = { type: 'tree/v1', entries: [{ name, kind: 'file', hash: 'a'.repeat(64), size: 0 }] };
      let err: unknown;
      try {
        decodeTree(Buffer.from(JSON.stringify(t)), OBJ_HASH);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(name)).toBeInstanceOf(StrataError);
      expect((err as StrataError).code).toBe('UNSAFE_PATH');
      expect((err as StrataError).message).toContain(OBJ_HASH);
    }
    // Invalid UTF-8 never decodes to a replacement character silently.
    const raw = Buffer.from(
      `{"entries":[{"hash":"${'a'.repeat(64)}","kind":"file","name":"\xff","size":0}],"type":"tree/v1"}`,
      'latin1',
    );
    expect(() => decodeTree(raw, OBJ_HASH)).toThrow(/not UTF-8/);
  });

  it('a commit whose meta nests past the limit is refused, not a stack overflow later', () => {
    const json = `{"author":{"email":"","name":""},"message":"","meta":${JSON.stringify({ m: 0 }).replace('0', '__X__')},"parents":[],"time":0,"tree":"${'a'.repeat(64)}","type":"commit/v1","tz":0}`;
    const deep = json.replace('__X__', '{"m":'.repeat(100_000) + '1' + '}'.repeat(100_000));
    expect(() => decodeCommit(Buffer.from(deep), OBJ_HASH)).toThrow(StrataError);
  });
});

describe('canonical JSON', () => {
  it('round-trips JSON values and is independent of key order', () => {
    prop('canonicalJson: round trip + key order', fc.jsonValue({ maxDepth: 4 }), (v) => {
      const s = canonicalJson(v);
      expect(JSON.parse(s)).toEqual(JSON.parse(JSON.stringify(v)));
      expect(canonicalJson(JSON.parse(s))).toBe(s);
      const reversed = JSON.parse(s, (_k, x: unknown) =>
        x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x,
      ) as unknown;
      expect(canonicalJson(reversed)).toBe(s);
    });
  });

  it('non-JSON values are a StrataError (BAD_INPUT), never a TypeError', () => {
    prop(
      'canonicalJson: non-JSON values',
      fc.oneof(
        fc.constantFrom(Number.NaN, Infinity, -Infinity, () => 0, Symbol('s'), 10n),
        fc.jsonValue({ maxDepth: 2 }).map((v) => ({ v, bad: Number.NaN })),
      ),
      (v) => {
        const out = decodesOrRefuses(() => canonicalJson(v), ['BAD_INPUT']);
        expect(out).toBeUndefined();
      },
    );
  });
});

// ---- packs --------------------------------------------------------------------------------------------

const entryArb = fc.record({
  hash: hashArb,
  kind: fc.integer({ min: 0, max: KIND_NAMES.length - 1 }),
  codec: fc.integer({ min: 0, max: 2 }),
  payload: fc.uint8Array({ maxLength: 64 }),
  rawLength: fc.nat({ max: 2 ** 32 - 1 }),
});
type EntryIn = typeof entryArb extends fc.Arbitrary<infer T> ? T : never;

function buildPack(entries: EntryIn[]): { pack: Buffer; index: PackEntry[] } {
  const parts: Buffer[] = [packHeader()];
  let at = PACK_HEADER_SIZE;
  const index: PackEntry[] = [];
  for (const e of entries) {
    parts.push(entryHeader(e.hash, e.kind, e.codec, e.rawLength, e.payload.length), Buffer.from(e.payload));
    index.push({
      hash: e.hash,
      kind: e.kind,
      codec: e.codec,
      offset: at + ENTRY_HEADER_SIZE,
      length: e.payload.length,
      rawLength: e.rawLength,
    });
    at += ENTRY_HEADER_SIZE + e.payload.length;
  }
  return { pack: Buffer.concat(parts), index };
}

function packEntriesInvariant(entries: PackEntry[], packLength?: number): void {
  for (const e of entries) {
    expect(isHex64(e.hash)).toBe(true);
    expect(e.kind).toBeLessThan(KIND_NAMES.length);
    expect(Number.isSafeInteger(e.offset) && e.offset >= PACK_HEADER_SIZE + ENTRY_HEADER_SIZE).toBe(true);
    if (packLength !== undefined) expect(e.offset + e.length).toBeLessThanOrEqual(packLength);
  }
}

const scanDir = mkdtempSync(join(tmpdir(), 'strata-scan-'));
/** The entries scanPackFile finds in `pack` (written to a file), reading `block` bytes at a time. */
function scanBytes(pack: Uint8Array, block?: number): PackEntry[] {
  const file = join(scanDir, 'p.pack');
  writeFileSync(file, pack);
  return [...scanPackFile(file, 'p', block)];
}

/** Re-seals an index body with a fresh checksum, so the mutation reaches the record checks. */
const reseal = (body: Buffer): Buffer => Buffer.concat([body, hashBytesRaw(body)]);

describe('pack format', () => {
  it('scanPackFile and parseEntryHeader round-trip built packs', () => {
    prop('scanPackFile: round trip', fc.array(entryArb, { maxLength: 8 }), (es) => {
      const { pack, index } = buildPack(es);
      expect(scanBytes(pack)).toEqual(index);
      for (const e of index) {
        const h = parseEntryHeader(pack, e.offset - ENTRY_HEADER_SIZE);
        expect(h.hash).toBe(e.hash);
        expect(h.length).toBe(e.length);
      }
    });
  });

  it('scanPackFile a small block at a time gives what it gives reading the pack at once: entries or error', () => {
    const outcome = (pack: Buffer, block: number): unknown => {
      try {
        return scanBytes(pack, block);
      } catch (e) {
        return e instanceof StrataError ? { code: e.code, message: e.message } : e;
      }
    };
    const same = (pack: Buffer): void => {
      const whole = outcome(pack, 1 << 20); // (every pack here is far smaller: one read)
      // Blocks smaller than an entry header, and about one entry header.
      for (const block of [1, 45, 64]) expect(outcome(pack, block)).toEqual(whole);
    };
    prop('scanPackFile blocks: built packs', fc.array(entryArb, { maxLength: 8 }), (es) =>
      same(buildPack(es).pack),
    );
    prop(
      'scanPackFile blocks: mutated packs',
      fc.tuple(fc.array(entryArb, { maxLength: 5 }), fc.array(byteMutation, { minLength: 1, maxLength: 4 })),
      ([es, ms]) => same(mutateBytes(buildPack(es).pack, ms)),
    );
    prop('scanPackFile blocks: arbitrary bytes', fc.uint8Array({ maxLength: 300 }), (b) =>
      same(Buffer.concat([packHeader(), b])),
    );
    same(Buffer.alloc(0));
    same(Buffer.from('STRATA'));
  });

  it('scanPackFile of mutated or arbitrary packs: entries inside the pack, or a StrataError', () => {
    prop(
      'scanPackFile: mutations',
      fc.tuple(fc.array(entryArb, { maxLength: 5 }), fc.array(byteMutation, { minLength: 1, maxLength: 4 })),
      ([es, ms]) => {
        const pack = mutateBytes(buildPack(es).pack, ms);
        const out = decodesOrRefuses(() => scanBytes(pack), PACK_CODES);
        if (out) packEntriesInvariant(out, pack.length);
      },
    );
    prop('scanPackFile: arbitrary bytes', fc.uint8Array({ maxLength: 300 }), (b) => {
      const pack = Buffer.concat([packHeader(), b]);
      const out = decodesOrRefuses(() => scanBytes(pack), PACK_CODES);
      if (out) packEntriesInvariant(out, pack.length);
    });
    prop(
      'parseEntryHeader: any offset',
      fc.tuple(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: -10, max: 200 })),
      ([b, at]) => {
        const h = decodesOrRefuses(() => parseEntryHeader(b, at), PACK_CODES);
        if (h) expect(at + ENTRY_HEADER_SIZE).toBeLessThanOrEqual(b.length);
      },
    );
  });

  it('pack index: round trip; arbitrary, mutated and re-sealed indexes decode or are refused', () => {
    prop('decodePackIndex: round trip', fc.array(entryArb, { maxLength: 8 }), (es) => {
      const { index } = buildPack(es);
      const back = decodePackIndex(encodePackIndex(index), 'i');
      expect(back).toEqual([...index].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0)));
    });
    prop('decodePackIndex: arbitrary bytes', fc.uint8Array({ maxLength: 200 }), (b) => {
      const out = decodesOrRefuses(() => decodePackIndex(b, 'i'), PACK_CODES);
      if (out) packEntriesInvariant(out);
    });
    prop(
      'decodePackIndex: mutated + re-sealed',
      fc.tuple(
        fc.array(entryArb, { maxLength: 5 }),
        fc.array(byteMutation, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
      ),
      ([es, ms, resealIt]) => {
        const idx = encodePackIndex(buildPack(es).index);
        const body = mutateBytes(idx.subarray(0, idx.length - 32), ms);
        const bytes = resealIt ? reseal(body) : Buffer.concat([body, idx.subarray(idx.length - 32)]);
        const out = decodesOrRefuses(() => decodePackIndex(bytes, 'i'), PACK_CODES);
        if (out) packEntriesInvariant(out);
      },
    );
  });

  it('a pack index claiming 4 billion records is refused before anything is allocated for them', () => {
    const body = Buffer.alloc(16);
    Buffer.from('STRATAIX').copy(body);
    body.writeUInt32LE(1, 8);
    body.writeUInt32LE(0xffffffff, 12);
    expect(() => decodePackIndex(reseal(body), 'i')).toThrow(/cannot hold/);
  });
});

// ---- codecs and delta recipes -------------------------------------------------------------------------

const opArb: fc.Arbitrary<DeltaOp> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((data) => ({ kind: 'lit' as const, data })),
  fc.record({
    kind: fc.constant('ref' as const),
    base: hashArb as fc.Arbitrary<string>,
    offset: fc.nat({ max: 2 ** 32 - 1 }),
    length: fc.nat({ max: 2 ** 32 - 1 }),
  }),
);

/** A zstd frame header (magic, FHD with a 8-byte content size, window) claiming `size` bytes, then junk. */
function lyingFrame(size: bigint, tail: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 1 + 1 + 8);
  h.writeUInt32LE(0xfd2fb528, 0);
  h[4] = 0xc0; // Frame_Content_Size_flag = 3 (8 bytes), no single segment
  h[5] = 0x58; // window descriptor
  h.writeBigUInt64LE(size, 6);
  return Buffer.concat([h, tail]);
}

describe('codecs and delta recipes', () => {
  it('recipes round-trip', () => {
    prop('decodeRecipe: round trip', fc.array(opArb, { maxLength: 10 }), (ops) => {
      const back = decodeRecipe(encodeRecipe(ops, 1));
      expect(back.map((o) => (o.kind === 'lit' ? { ...o, data: Buffer.from(o.data) } : o))).toEqual(
        ops.map((o) => (o.kind === 'lit' ? { ...o, data: Buffer.from(o.data) } : o)),
      );
    });
  });

  it('arbitrary recipe bodies (valid zstd frames of any bytes) parse or are refused', () => {
    prop('decodeRecipe: arbitrary bodies', fc.uint8Array({ maxLength: 200 }), (body) => {
      const ops = decodesOrRefuses(() => decodeRecipe(zstdCompress(body, 1)), ['INTEGRITY']);
      if (ops) {
        let n = 0;
        for (const o of ops) n += o.kind === 'lit' ? 5 + o.data.length : 41;
        expect(n).toBe(body.length);
      }
    });
  });

  it('mutated recipe frames and arbitrary bytes parse or are refused', () => {
    prop(
      'decodeRecipe: mutated frames',
      fc.tuple(fc.array(opArb, { maxLength: 6 }), fc.array(byteMutation, { minLength: 1, maxLength: 3 })),
      ([ops, ms]) => {
        decodesOrRefuses(() => decodeRecipe(mutateBytes(encodeRecipe(ops, 1), ms)), ['INTEGRITY']);
      },
    );
    prop('decodeRecipe: arbitrary bytes', fc.uint8Array({ maxLength: 200 }), (b) => {
      decodesOrRefuses(() => decodeRecipe(b), ['INTEGRITY']);
    });
  });

  it('codec.decode: any codec, bytes and claimed length → bytes of that length, or a StrataError', () => {
    prop(
      'codec.decode: arbitrary',
      fc.tuple(
        fc.integer({ min: 0, max: 255 }),
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }),
          fc.uint8Array({ maxLength: 100 }).map((b) => zstdCompress(b, 1)),
        ),
        fc.option(fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(2 ** 32 - 1, 2 ** 40)), { nil: undefined }),
      ),
      ([codec, bytes, raw]) => {
        const out = decodesOrRefuses(() => decode(codec, bytes, raw), ['INTEGRITY', 'UNSUPPORTED_VERSION']);
        if (out && codec === 1 && raw !== undefined) expect(out.length).toBe(raw);
      },
    );
  });

  it('a zstd frame whose header claims terabytes is refused without allocating them', () => {
    prop(
      'zstd: lying content size',
      fc.tuple(fc.bigInt({ min: 1n << 24n, max: (1n << 62n) - 1n }), fc.uint8Array({ maxLength: 32 })),
      ([size, tail]) => {
        const f = lyingFrame(size, tail);
        // Refused by the size check itself (not by a failed allocation or a failed decode).
        let err: unknown;
        try {
          decode(1, f);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(StrataError);
        expect(String((err as StrataError).cause)).toMatch(/cannot decode to the \d+ bytes claimed/);
        decodesOrRefuses(() => decode(1, f), ['INTEGRITY']);
        decodesOrRefuses(() => decodeRecipe(f), ['INTEGRITY']);
        decodesOrRefuses(() => decode(1, f, 2 ** 32 - 1), ['INTEGRITY']);
      },
      Math.min(RUNS, 200),
    );
  });

  it('codec 2 is never decoded as bytes', () => {
    expect(
      decodesOrRefuses(() => decode(CODEC_DELTA, Buffer.alloc(4)), ['UNSUPPORTED_VERSION']),
    ).toBeUndefined();
  });
});

// ---- config files -------------------------------------------------------------------------------------

describe('config and lock files', () => {
  const cfgArb = fc.record({
    format: fc.constant(1),
    chunking: fc.record({ min: fc.nat(), avg: fc.nat(), max: fc.nat() }),
  });

  it('.strata/strata.json: round trip; arbitrary and mutated text parse or are refused', () => {
    prop('parseRepoConfig: round trip', cfgArb, (c) => {
      expect(parseRepoConfig(JSON.stringify(c, null, 2) + '\n', 'f')).toEqual(c);
    });
    const codes: ErrorCode[] = ['NOT_A_REPOSITORY', 'UNSUPPORTED_VERSION', 'INTEGRITY'];
    prop(
      'parseRepoConfig: arbitrary',
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.jsonValue().map((j) => JSON.stringify(j)),
      ),
      (text) => {
        const c = decodesOrRefuses(() => parseRepoConfig(text, 'f'), codes);
        if (c)
          expect(
            c.format === 1 && [c.chunking.min, c.chunking.avg, c.chunking.max].every(Number.isSafeInteger),
          ).toBe(true);
      },
    );
    prop(
      'parseRepoConfig: structural mutations',
      fc.tuple(cfgArb, fc.array(fc.nat(), { maxLength: 3 }), hostileValue),
      ([c, path, value]) => {
        decodesOrRefuses(() => parseRepoConfig(JSON.stringify(replaceAt(c, path, value)), 'f'), codes);
      },
    );
  });

  const pinArb = fc
    .tuple(fc.constantFrom('s3://b/p', '../data', '/abs/repo', 'file:///x'), hashArb)
    .map(([loc, h]) => `${loc}@${h}`);
  const lockArb: fc.Arbitrary<LockFile> = fc
    .dictionary(
      fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,10}$/),
        fc.constantFrom('__proto__', 'constructor', 'toString'),
      ),
      pinArb,
      { maxKeys: 5 },
    )
    .map((pins) => ({ version: 1 as const, pins }));

  it('strata.lock: round trip (even a pin named __proto__); arbitrary and mutated text parse or are refused', () => {
    prop('parseLock: round trip', lockArb, (l) => {
      const text = formatLock(l);
      const back = parseLock(text, 'strata.lock');
      expect(Object.keys(back.pins).sort()).toEqual(Object.keys(l.pins).sort());
      for (const k of Object.keys(l.pins)) expect(back.pins[k]).toBe(l.pins[k]);
      expect(formatLock(back)).toBe(text);
    });
    const codes: ErrorCode[] = ['BAD_INPUT', 'UNSUPPORTED_VERSION'];
    prop(
      'parseLock: arbitrary',
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.jsonValue().map((j) => JSON.stringify(j)),
      ),
      (t) => {
        const l = decodesOrRefuses(() => parseLock(t, 'strata.lock'), codes);
        if (l) for (const p of Object.values(l.pins)) expect(p).toMatch(/@[0-9a-f]{64}$/);
      },
    );
    prop(
      'parseLock: structural mutations',
      fc.tuple(lockArb, fc.array(fc.nat(), { maxLength: 3 }), hostileValue),
      ([l, path, value]) => {
        decodesOrRefuses(
          () => parseLock(JSON.stringify(replaceAt(JSON.parse(formatLock(l)), path, value)), 'x'),
          codes,
        );
      },
    );
  });

  it('remote strata.json and remote refs: round trip; arbitrary and mutated bytes parse or are refused', async () => {
    const store = new MemoryStore('props');
    const cfgs = fc.sample(
      fc.oneof(
        cfgArb.map((c) => JSON.stringify(c)),
        fc.string({ unit: 'binary', maxLength: 60 }),
        fc.jsonValue().map((j) => JSON.stringify(j)),
        fc
          .tuple(cfgArb, fc.array(fc.nat(), { maxLength: 3 }), hostileValue)
          .map(([c, p, v]) => JSON.stringify(replaceAt(c, p, v))),
      ),
      RUNS,
    );
    for (const text of cfgs) {
      tally.set('readRemoteConfig: arbitrary', (tally.get('readRemoteConfig: arbitrary') ?? 0) + 1);
      await store.put(REMOTE_CONFIG_KEY, Buffer.from(text));
      let out: unknown;
      try {
        out = await readRemoteConfig(store);
      } catch (e) {
        if (!(e instanceof StrataError)) throw e;
        expect(['INTEGRITY', 'UNSUPPORTED_VERSION']).toContain(e.code);
        continue;
      }
      const c = out as { format: number; chunking: Record<string, number> };
      expect(c.format).toBe(1);
      expect(Object.values(c.chunking).every(Number.isSafeInteger)).toBe(true);
    }
    prop('decodeRemoteRef: round trip', fc.tuple(hashArb, fc.string()), ([h, w]) => {
      expect(decodeRemoteRef(encodeRemoteRef(h, w), 'r')).toEqual({ commit: h, writer: w });
    });
    prop(
      'decodeRemoteRef: arbitrary + mutated',
      fc.oneof(
        fc.uint8Array({ maxLength: 120 }),
        fc
          .tuple(hashArb, fc.array(byteMutation, { minLength: 1, maxLength: 3 }))
          .map(([h, ms]) => mutateBytes(encodeRemoteRef(h, 'w'), ms)),
      ),
      (b) => {
        const r = decodesOrRefuses(() => decodeRemoteRef(b, 'r'), ['INTEGRITY']);
        if (r) expect(isHex64(r.commit) && typeof r.writer === 'string').toBe(true);
      },
    );
  });

  it('records what ran', () => {
    const total = [...tally.values()].reduce((a, b) => a + b, 0);
    // One line for docs/reliability/hostile-input.md.
    console.log(`properties: ${tally.size}, runs: ${total} (STRATA_FC_RUNS=${RUNS})`);
    expect(tally.size).toBeGreaterThanOrEqual(30);
  });
});

// A sanity check that the generators hit the interesting cases at all (a property that never sees a
// valid value proves little).
describe('generators', () => {
  it('mutated trees still decode sometimes, and are refused sometimes', () => {
    let ok = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.tuple(treeArb, fc.array(fc.nat(), { maxLength: 5 }), hostileValue),
        ([t, path, value]) => {
          const v = decodesOrRefuses(
            () =>
              decodeTree(
                Buffer.from(JSON.stringify(replaceAt(JSON.parse(canonicalJson(t)), path, value))),
                OBJ_HASH,
              ),
            OBJECT_CODES,
          );
          if (v) ok++;
          else refused++;
        },
      ),
      { numRuns: 500, seed: 7 },
    );
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
    expect(hashBytes(Buffer.alloc(0))).toMatch(/^[0-9a-f]{64}$/);
  });
});
