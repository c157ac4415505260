/**
 * `.strataattributes`: git-attributes style lines `PATTERN key=value ...`, e.g.
 * `data/*.jsonl format=jsonl key=id`. Later lines override earlier ones, attribute by attribute. A pattern
 * without '/' matches the file name at any depth; with '/', the path from the root.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** picomatch is loaded only when there are patterns to compile (most repositories have no attributes file). */
let picomatchFn: typeof import('picomatch') | undefined;
const picomatch: typeof import('picomatch') = ((glob: string, options: object) =>
  (picomatchFn ??= createRequire(import.meta.url)('picomatch') as typeof import('picomatch'))(
    glob,
    options,
  )) as typeof import('picomatch');

export const ATTRIBUTES_FILE = '.strataattributes';

export type Attributes = Record<string, string>;

export interface AttributeRules {
  lookup(path: string): Attributes;
}

export function parseAttributes(text: string): AttributeRules {
  const rules: { match: (p: string) => boolean; attrs: Attributes }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [pattern, ...rest] = line.split(/\s+/);
    if (!pattern) continue;
    const attrs: Attributes = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq > 0) attrs[kv.slice(0, eq)] = kv.slice(eq + 1);
      else if (kv.startsWith('-')) attrs[kv.slice(1)] = '';
      else attrs[kv] = 'true';
    }
    const anchored = pattern.includes('/');
    const glob = pattern.replace(/^\//, '');
    const m = picomatch(glob, { dot: true, basename: !anchored });
    rules.push({ match: (p) => m(p), attrs });
  }
  return {
    lookup(path) {
      const out: Attributes = {};
      for (const r of rules) if (r.match(path)) Object.assign(out, r.attrs);
      for (const k of Object.keys(out)) if (out[k] === '') delete out[k];
      return out;
    },
  };
}

export function loadAttributes(root: string): AttributeRules {
  try {
    return parseAttributes(readFileSync(join(root, ATTRIBUTES_FILE), 'utf8'));
  } catch {
    return parseAttributes('');
  }
}
