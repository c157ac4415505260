/**
 * Worker thread body for CompressPool: compresses batches of objects with the codec rules of codec.ts, or
 * decodes and verifies batches of stored objects.
 */
import { parentPort } from 'node:worker_threads';
import { encode } from './codec.js';
import { decodeVerified, type Job } from './compress-pool.js';

/** `b` in an ArrayBuffer of its own, so that it can be transferred without cloning. */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (b.byteOffset === 0 && b.buffer instanceof ArrayBuffer && b.buffer.byteLength === b.length)
    return b as Uint8Array<ArrayBuffer>;
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy;
}

parentPort!.on('message', (job: Job) => {
  if (job.op === 'decode') {
    const out = job.items.map((e) => {
      const d = decodeVerified(e);
      return d && own(d);
    });
    const transfer: ArrayBuffer[] = [];
    for (const d of out) if (d && !transfer.includes(d.buffer)) transfer.push(d.buffer);
    parentPort!.postMessage({ id: job.id, out }, transfer);
    return;
  }
  const out = job.items.map((d) => {
    const r = encode(d, job.level);
    return { codec: r.codec, bytes: own(r.bytes) };
  });
  parentPort!.postMessage(
    { id: job.id, out },
    out.map((o) => o.bytes.buffer),
  );
});
