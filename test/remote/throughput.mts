/**
 * Push and clone throughput against moto vs moto's raw PUT/GET throughput for the same bytes.
 *   node --import tsx test/remote/throughput.mts [MB]      (not part of the test suite)
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { addRemote, clone, push } from '../../src/core/remote/index.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { startMoto } from '../helpers/moto.js';
import { setAwsEnv } from './backends.js';
import { commitFiles, jsonl, tmp, withRepo } from './helpers.js';

const MB = Number(process.argv[2] ?? 200);
setAwsEnv();
const moto = await startMoto();
try {
  const dir = tmp('tp');
  const t0 = Date.now();
  await commitFiles(dir, { 'data/train.jsonl': jsonl(MB * 1e6, 42) }, 'big');
  console.log(`commit of ${MB} MB: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const url = `s3://${moto.bucket}/tp-${randomUUID().slice(0, 6)}`;
  const fileBytes = statSync(join(dir, 'data/train.jsonl')).size;
  const p0 = Date.now();
  const r = await withRepo(dir, (repo) => {
    addRemote(repo, 'origin', url, { endpoint: moto.endpoint });
    let last = Date.now();
    return push(repo, {
      packConcurrency: Number(process.env.PACKS ?? 4),
      progress: {
        onPhase: (ph) => {
          const n = Date.now();
          console.log(`  push +${n - last} ms → ${ph}`);
          last = n;
        },
      },
    });
  });
  const pushS = (Date.now() - p0) / 1000;
  console.log(
    `push: ${r.objects} objects, ${(r.bytes / 1e6).toFixed(1)} MB stored bytes in ${r.packs} packs, ${pushS.toFixed(2)} s = ${(r.bytes / 1e6 / pushS).toFixed(1)} MB/s stored (${(fileBytes / 1e6 / pushS).toFixed(1)} MB/s of file data)`,
  );
  const c0 = Date.now();
  const c = await clone(url, join(tmp('tpc'), 'c'), { settings: { endpoint: moto.endpoint } });
  const cloneS = (Date.now() - c0) / 1000;
  console.log(
    `clone: ${c.objects} objects, ${(c.bytes / 1e6).toFixed(1)} MB in ${cloneS.toFixed(2)} s = ${(c.bytes / 1e6 / cloneS).toFixed(1)} MB/s received (${(fileBytes / 1e6 / cloneS).toFixed(1)} MB/s of file data written)`,
  );
  // Raw baseline: the same number of bytes as the push stored, as 64 MiB objects, 4 in parallel, through the
  // same S3Store (multipart, 8 MiB parts), and read back whole.
  const raw = new S3Store(moto.storeOptions(`raw-${randomUUID().slice(0, 6)}`));
  const part = 64 * 1024 * 1024;
  const blobs: Uint8Array[] = [];
  for (let left = r.bytes; left > 0; left -= part)
    blobs.push(Buffer.alloc(Math.min(part, left), 7).map((_, i) => (i * 2654435761) >>> 24));
  const limit = pLimit(4);
  const w0 = Date.now();
  await Promise.all(blobs.map((b, i) => limit(() => raw.put(`blob${i}`, b))));
  const putS = (Date.now() - w0) / 1000;
  const g0 = Date.now();
  await Promise.all(blobs.map((_, i) => limit(() => raw.get(`blob${i}`))));
  const getS = (Date.now() - g0) / 1000;
  console.log(
    `raw PUT ${(r.bytes / 1e6).toFixed(1)} MB: ${putS.toFixed(2)} s = ${(r.bytes / 1e6 / putS).toFixed(1)} MB/s; raw GET: ${getS.toFixed(2)} s = ${(r.bytes / 1e6 / getS).toFixed(1)} MB/s`,
  );
  console.log(
    `push/raw PUT = ${((putS / pushS) * 100).toFixed(0)}%, clone/raw GET = ${((getS / cloneS) * 100).toFixed(0)}%`,
  );
  await raw.close();
} finally {
  await moto.stop();
}
