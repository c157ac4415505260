/**
 * Worker thread body for CompressPool: compresses batches of objects with the codec rules of codec.ts, or
 * decodes and verifies batches of stored objects.
 */
import { parentPort } from 'node:worker_threads';
import { encode } from './codec.js';
import { compressInPlace, decodeBatch, type Job } from './compress-pool.js';

/** `b` in an ArrayBuffer of its own, so that it can be transferred without cloning. */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (b.byteOffset === 0 && b.buffer instanceof ArrayBuffer && b.buffer.byteLength === b.length)
    return b as Uint8Array<ArrayBuffer>;
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy;
}

parentPort!.on('message', (job: Job) => {
  if (job.op === 'pack') {
    const batch = compressInPlace(new Uint8Array(job.region), job.ends, job.level);
    parentPort!.postMessage({ id: job.id, batch }, [batch.codecs.buffer, batch.ends.buffer]);
    return;
  }
  if (job.op === 'decode') {
    // Into the job's buffer or one moved to the caller (decodeBatch), with the keys of its records if asked.
    const d = decodeBatch(job.items, job.out, job.outMin, job.keyMin, job.quoted);
    const transfer: ArrayBuffer[] = d.keyed ? [d.keyed.keys.buffer as ArrayBuffer] : [];
    if (!d.shared) transfer.push(d.packed.buffer as ArrayBuffer);
    parentPort!.postMessage(
      { id: job.id, ...(d.shared ? {} : { packed: d.packed }), sizes: d.sizes, ...d.keyed },
      transfer,
    );
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
