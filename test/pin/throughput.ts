/**
 * Streaming throughput of a pinned JSONL file through the library (not a vitest test):
 *
 *   node --import tsx test/pin/throughput.ts [MB=200] [dir]
 *   PIN_BENCH_MOTO=1 node --import tsx test/pin/throughput.ts 200    # also push to moto, read the s3:// pin
 *
 * Builds a repository with one ~MB-megabyte JSONL file (default chunking), pins it, and measures read()
 * bytes/s, examples() examples/s (JSON.parse included), 4 shards one after another, and peak RSS.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { add, commit, open, Repository } from '../../src/core/index.js';
import { rng, tempDir } from './helpers.js';

const MB = Number(process.argv[2] ?? 200);
const dir = process.argv[3] ?? tempDir('strata-pinbench-');
process.env.STRATA_AUTHOR = 'Bench <b@example.com>';
process.env.STRATA_NO_PROVENANCE = '1';

async function generate(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path);
  const r = rng(42);
  // A 4096-word vocabulary of random lowercase words: compresses about like English text (~2.5x).
  const words = Array.from({ length: 4096 }, () =>
    Array.from({ length: 2 + Math.floor(r() * 8) }, () =>
      String.fromCharCode(97 + Math.floor(r() * 26)),
    ).join(''),
  );
  let n = 0;
  let size = 0;
  let buf = '';
  while (size < bytes) {
    const len = 20 + Math.floor(r() * 300);
    let text = '';
    for (let i = 0; i < len; i++) text += words[Math.floor(r() * words.length)] + ' ';
    const line =
      JSON.stringify({
        id: n,
        messages: [
          { role: 'user', content: text.slice(0, 200) },
          { role: 'assistant', content: text },
        ],
      }) + '\n';
    buf += line;
    size += Buffer.byteLength(line);
    n++;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((res) => out.once('drain', () => res()));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise<void>((res) => out.end(() => res()));
  return n;
}

const t = (): number => performance.now();
const peakMB = (): string => (process.resourceUsage().maxRSS / 1024).toFixed(0);

const repo = Repository.init(dir);
const n = await generate(join(dir, 'train.jsonl'), MB * 1e6);
let t0 = t();
await add(repo, ['train.jsonl']);
const c = await commit(repo, { message: 'bench' });
const commitS = (t() - t0) / 1000;
repo.close();
const pin = `${dir}@${c.commit}`;
const rev = await open(pin);
const size = (await rev.file('train.jsonl')).size;
console.log(`file: ${(size / 1e6).toFixed(1)} MB, ${n} examples; add+commit ${commitS.toFixed(1)} s`);

let s = 0;
for (const pass of ['cold', 'warm']) {
  t0 = t();
  let bytes = 0;
  for await (const b of rev.read('train.jsonl')) bytes += (b as Buffer).length;
  s = (t() - t0) / 1000;
  console.log(
    `read() ${pass}: ${(bytes / 1e6 / s).toFixed(0)} MB/s (${s.toFixed(2)} s), peak RSS so far ${peakMB()} MB`,
  );
}

t0 = t();
let count = 0;
for await (const e of rev.examples('train.jsonl')) if (e.value) count++;
s = (t() - t0) / 1000;
console.log(
  `examples(): ${(count / s).toFixed(0)} examples/s, ${(size / 1e6 / s).toFixed(0)} MB/s (${s.toFixed(2)} s), ${count} examples, peak RSS so far ${peakMB()} MB`,
);

for (const N of [4]) {
  let total = 0;
  const times: string[] = [];
  for (let k = 0; k < N; k++) {
    t0 = t();
    let m = 0;
    for await (const _ of rev.examples('train.jsonl', { shard: k, numShards: N })) m++;
    times.push(`${m} in ${((t() - t0) / 1000).toFixed(2)} s`);
    total += m;
  }
  console.log(
    `${N} shards (one after another): ${times.join(', ')}; total ${total} (${total === count ? 'exact' : 'MISMATCH'})`,
  );
}
await rev.close();

if (process.env.PIN_BENCH_MOTO) {
  const { startMoto, MOTO_CREDENTIALS } = await import('../helpers/moto.js');
  const { addRemote, push } = await import('../../src/core/remote/index.js');
  process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
  const moto = await startMoto();
  try {
    const r = Repository.open(dir);
    const url = `s3://${moto.bucket}/bench`;
    addRemote(r, 'origin', url, { endpoint: moto.endpoint });
    t0 = t();
    await push(r);
    console.log(`push to moto: ${((t() - t0) / 1000).toFixed(1)} s`);
    r.close();
    const remote = { endpoint: moto.endpoint };
    const s3pin = `${url}@${c.commit}`;
    const rv = await open(s3pin, { remote });
    t0 = t();
    let bytes = 0;
    for await (const b of rv.read('train.jsonl')) bytes += (b as Buffer).length;
    s = (t() - t0) / 1000;
    console.log(
      `s3 read():     ${(bytes / 1e6 / s).toFixed(0)} MB/s (${s.toFixed(2)} s), peak RSS so far ${peakMB()} MB`,
    );
    t0 = t();
    let m = 0;
    for await (const _ of rv.examples('train.jsonl')) m++;
    s = (t() - t0) / 1000;
    console.log(
      `s3 examples(): ${(m / s).toFixed(0)} examples/s, ${(size / 1e6 / s).toFixed(0)} MB/s (${s.toFixed(2)} s)`,
    );
    await rv.close();
    const N = 4;
    t0 = t();
    const counts = await Promise.all(
      Array.from({ length: N }, async (_, k) => {
        const w = await open(s3pin, { remote });
        let q = 0;
        for await (const _ of w.examples('train.jsonl', { shard: k, numShards: N })) q++;
        await w.close();
        return q;
      }),
    );
    s = (t() - t0) / 1000;
    const tot = counts.reduce((a, b) => a + b, 0);
    console.log(
      `s3 ${N} concurrent shards: ${counts.join(', ')} (${tot === count ? 'exact' : 'MISMATCH'}) in ${s.toFixed(2)} s, ${(tot / s).toFixed(0)} examples/s`,
    );
  } finally {
    await moto.stop();
  }
}
