import { writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/objects/canonical-json.js';
import { decodeCommit, decodeTree, encodeObject, type Tree } from '../../src/core/objects/objects.js';
import { Repository } from '../../src/core/repository.js';
import { StrataError } from '../../src/storage/errors.js';
import { hashBytes } from '../../src/storage/hash.js';
import { CLI, tempDir } from './helpers.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof StrataError ? e.code : `not a StrataError: ${String(e)}`;
  }
  return undefined;
};

const H = 'a'.repeat(64);

describe('canonical JSON and objects', () => {
  it('sorts keys, drops undefined, has no white space', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x"y'], c: undefined, A: { z: 1, y: 2 } })).toBe(
      '{"A":{"y":2,"z":1},"a":[true,null,"x\\"y"],"b":1}',
    );
    expect(code(() => canonicalJson({ x: Number.NaN }))).toBe('BAD_INPUT');
  });

  it('the same content always gives the same bytes and hash', () => {
    const t1: Tree = { type: 'tree/v1', entries: [{ name: 'a', kind: 'file', hash: H as never, size: 1 }] };
    const t2 = JSON.parse(
      '{"entries":[{"size":1,"hash":"' + H + '","name":"a","kind":"file"}],"type":"tree/v1"}',
    );
    expect(hashBytes(encodeObject(t1))).toBe(hashBytes(encodeObject(t2)));
  });

  it('refuses unknown object versions and malformed objects', () => {
    const commit = (type: string): Buffer =>
      Buffer.from(
        canonicalJson({
          type,
          tree: H,
          parents: [],
          author: { name: 'a', email: 'b' },
          time: 1,
          tz: 0,
          message: 'm',
          meta: {},
        }),
      );
    expect(decodeCommit(commit('commit/v1'), 'x').message).toBe('m');
    expect(code(() => decodeCommit(commit('commit/v2'), 'x'))).toBe('UNSUPPORTED_VERSION');
    expect(code(() => decodeCommit(commit('tree/v1'), 'x'))).toBe('INTEGRITY');
    expect(code(() => decodeCommit(Buffer.from('not json'), 'x'))).toBe('INTEGRITY');
  });

  it('a segment is encoded directly exactly as canonical JSON, and anything unusual falls back to it', () => {
    const r = (n: number): number => Math.floor(Math.random() * n);
    const hex = (): string => hashBytes(Buffer.from(String(Math.random())));
    for (let t = 0; t < 50; t++) {
      const spans = Array.from({ length: r(300) }, () => [hex(), r(2 ** 40), r(2 ** 20)]);
      const seg = { type: 'segment/v1', spans } as Parameters<typeof encodeObject>[0];
      expect(encodeObject(seg).toString('latin1')).toBe(canonicalJson(seg));
    }
    const odd: unknown[][] = [
      [
        [H, 0, 1],
        ['A'.repeat(64), 0, 1],
      ], // upper-case hex
      [['x"y', 0, 1]],
      [[H, -1, 1]],
      [[H, 0, 1.5]],
      [[H, 0, 2 ** 53]],
      [[H, 0]],
      [[H, -0, 4]],
    ];
    for (const spans of odd) {
      const seg = { type: 'segment/v1', spans } as Parameters<typeof encodeObject>[0];
      expect(encodeObject(seg).toString('utf8')).toBe(canonicalJson(seg));
    }
    const extra = { type: 'segment/v1', spans: [[H, 0, 1]], note: 'x' } as unknown as Parameters<
      typeof encodeObject
    >[0];
    expect(encodeObject(extra).toString('utf8')).toBe(canonicalJson(extra));
  });

  it('refuses trees with unsafe or unsorted names', () => {
    const tree = (names: string[]): Buffer =>
      Buffer.from(
        canonicalJson({
          type: 'tree/v1',
          entries: names.map((name) => ({ name, kind: 'file', hash: H, size: 0 })),
        }),
      );
    expect(decodeTree(tree(['a', 'b']), 'x').entries).toHaveLength(2);
    expect(code(() => decodeTree(tree(['b', 'a']), 'x'))).toBe('INTEGRITY');
    expect(code(() => decodeTree(tree(['a', 'a']), 'x'))).toBe('INTEGRITY');
    for (const bad of ['..', '.', '', 'a/b', 'a\\b', 'a\0b'])
      expect(code(() => decodeTree(tree([bad]), 'x'))).toBe('UNSAFE_PATH');
  });
});

describe('repository versions', () => {
  it('refuses a repository format it does not know', () => {
    const dir = tempDir();
    Repository.init(dir).close();
    const f = join(dir, '.strata', 'strata.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"format": 1', '"format": 2'));
    expect(code(() => Repository.open(dir))).toBe('UNSUPPORTED_VERSION');
  });

  it('refuses an index schema newer than this strata', () => {
    const dir = tempDir();
    Repository.init(dir).close();
    const db = new Database(join(dir, '.strata', 'index.sqlite'));
    db.pragma('user_version = 999');
    db.close();
    expect(code(() => Repository.open(dir))).toBe('UNSUPPORTED_VERSION');
  });

  it('finds the repository from a subdirectory and refuses outside one', () => {
    const dir = tempDir();
    Repository.init(dir).close();
    expect(code(() => Repository.open(tempDir()))).toBe('NOT_A_REPOSITORY');
  });
});

describe('package', () => {
  it('builds an executable CLI (the `strata` bin)', () => {
    expect(statSync(CLI).mode & 0o111).toBe(0o111);
    expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });
});
