/**
 * Worker thread body for CompressPool: compresses batches of objects with the codec rules of codec.ts, or
 * decodes and verifies batches of stored objects.
 */
import { parentPort } from 'node:worker_threads';
import { encode } from './codec.js';
import { compressInPlace, decodedSize, decodeVerifiedInto, type Job } from './compress-pool.js';
import { keyAll } from './record-keys.js';

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
    // Decoded straight into one buffer: the caller's shared one if it gave one large enough, else one moved
    // to the caller (unpack() in compress-pool.ts). A decoded copy per chunk would pile up here as garbage
    // (external memory) between this thread's rare collections.
    const sizes = job.items.map(decodedSize);
    const total = sizes.reduce((n, k) => n + k, 0);
    const shared = job.out && job.out.byteLength >= total ? job.out : undefined;
    const packed = shared ? new Uint8Array(shared, 0, total) : new Uint8Array(total);
    const data: (Uint8Array | undefined)[] = [];
    let at = 0;
    job.items.forEach((e, i) => {
      const dst = packed.subarray(at, at + sizes[i]!);
      at += sizes[i]!;
      const ok = decodeVerifiedInto(e, dst);
      if (!ok) sizes[i] = -sizes[i]! - 1;
      data.push(ok ? dst : undefined);
    });
    const keyed = job.keyMin === undefined ? undefined : keyAll(data, job.keyMin, job.quoted);
    const transfer: ArrayBuffer[] = keyed ? [keyed.keys.buffer] : [];
    if (!shared) transfer.push(packed.buffer as ArrayBuffer);
    parentPort!.postMessage({ id: job.id, ...(shared ? {} : { packed }), sizes, ...keyed }, transfer);
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
