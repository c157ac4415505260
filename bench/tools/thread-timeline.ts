/**
 * Where a command's threads wait: the CPU profiles of one run (`node --cpu-prof --cpu-prof-dir=DIR
 * dist/bin/strata-main.cjs ...` writes one per thread) as a timeline, one row per 250 ms and one column per
 * thread: the share of the slice the thread was busy (not idle) and where it spent most of it (three frames
 * below the root). A pipeline whose threads are both well under 100% in the same slices waits on itself;
 * the 1 GiB deletion's commit showed both at ~70% while it resolved, which led to the pool's several jobs
 * per worker (compress-pool.ts).
 *
 * Usage: node --import tsx bench/tools/thread-timeline.ts DIR/*.cpuprofile [--slice MS]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Slice {
  busy: number;
  where: Map<string, number>;
}

function slices(p: Profile, t0: number, slice: number): Slice[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out: Slice[] = [];
  let t = p.startTime - t0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const node = byId.get(p.samples[i]!)!;
    if (node.callFrame.functionName === '(idle)') continue;
    const s = (out[Math.floor(t / slice)] ??= { busy: 0, where: new Map() });
    const dt = p.timeDeltas[i + 1] ?? 0;
    s.busy += dt;
    const chain: string[] = [];
    for (let c: number | undefined = node.id; c !== undefined; c = parent.get(c))
      chain.push(byId.get(c)!.callFrame.functionName || '(anon)');
    const key = chain.reverse().slice(1, 4).join('>');
    s.where.set(key, (s.where.get(key) ?? 0) + dt);
  }
  return out;
}

const args = process.argv.slice(2);
const at = args.indexOf('--slice');
const sliceMs = at >= 0 ? Number(args.splice(at, 2)[1]) : 250;
if (args.length === 0 || !(sliceMs > 0)) {
  console.error('usage: thread-timeline.ts PROFILE.cpuprofile... [--slice MS]');
  process.exit(2);
}
const profiles = args.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Profile);
const t0 = Math.min(...profiles.map((p) => p.startTime));
const slice = sliceMs * 1000;
const rows = profiles.map((p) => slices(p, t0, slice));
const n = Math.max(...rows.map((r) => r.length));
for (let k = 0; k < n; k++) {
  const cols = rows.map((r) => {
    const s = r[k];
    if (!s) return '   -'.padEnd(41);
    const top = [...s.where].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
    return `${String(Math.round((100 * s.busy) / slice)).padStart(3)}% ${top.slice(-35).padEnd(35)}`;
  });
  console.log(((k * slice) / 1e6).toFixed(2).padStart(6), cols.join(' | '));
}
