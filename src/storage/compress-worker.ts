/** Worker thread body for CompressPool: compresses batches of objects with the codec rules of codec.ts. */
import { parentPort } from 'node:worker_threads';
import { encode } from './codec.js';

interface Job {
  id: number;
  level: number;
  items: Uint8Array[];
}

parentPort!.on('message', (job: Job) => {
  const out = job.items.map((d) => {
    const r = encode(d, job.level);
    // Copy into an ArrayBuffer of its own so it can be transferred without cloning.
    const bytes = new Uint8Array(r.bytes.length);
    bytes.set(r.bytes);
    return { codec: r.codec, bytes };
  });
  parentPort!.postMessage(
    { id: job.id, out },
    out.map((o) => o.bytes.buffer),
  );
});
