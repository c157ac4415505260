#!/usr/bin/env node
// Enforces the layer rule: cli -> core -> storage, never the other way.
// A file in a layer may import only from its own layer or the layers below it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const rank = { storage: 0, core: 1, cli: 2 };
const layerOf = (file) => {
  const rel = relative(join(root, 'src'), file).split(/[\\/]/)[0];
  return rel in rank ? rel : undefined;
};
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });

const bad = [];
for (const file of walk(join(root, 'src'))) {
  const from = layerOf(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(
    /(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
  )) {
    const spec = m[1] ?? m[2];
    const to = layerOf(resolve(dirname(file), spec));
    if (from && to && rank[to] > rank[from])
      bad.push(`${relative(root, file)} (${from}) imports ${spec} (${to})`);
  }
}
if (bad.length) {
  console.error('Layer rule broken (cli -> core -> storage):\n  ' + bad.join('\n  '));
  process.exit(1);
}
console.log('layers ok');
