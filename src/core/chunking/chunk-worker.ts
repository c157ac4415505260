/**
 * Worker thread body for chunkOnWorker (worker-chunks.ts): runs the Chunker over the buffers the main thread
 * reads (shared memory, so nothing is copied) and answers each push with the chunks it completed, as
 * lengths, and the over-long records cut since the last answer. Then it hashes them (BLAKE3) from the first
 * on, into shared memory, claiming each in `claims` first: the main thread hashes from the last back while
 * it has nothing else to do (HASH_* in worker-chunks.ts), and the two meet where their work balances.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hashBytesRaw } from '../../storage/hash.js';
import { Chunker } from './chunker.js';
import {
  HASH_DONE,
  HASH_WORKER,
  type ChunkerJob,
  type ChunkerReply,
  type ChunkerSetup,
} from './worker-chunks.js';

const setup = workerData as ChunkerSetup;
// Each push's chunks are hashed before the next push: the chunker may join into reused buffers.
const chunker = new Chunker(setup.format, setup.params, { reuseJoins: true });

parentPort!.on('message', (job: ChunkerJob) => {
  let reply: ChunkerReply;
  try {
    const out = job.op === 'push' ? chunker.push(job.data) : chunker.finish();
    const lens = new Uint32Array(out.length);
    const claims = new Int32Array(new SharedArrayBuffer(4 * out.length));
    const hashes = new Uint8Array(new SharedArrayBuffer(32 * out.length));
    out.forEach((c, i) => (lens[i] = c.length));
    reply = { lens, claims, hashes, long: chunker.takeLongRecords() };
    parentPort!.postMessage(reply, [lens.buffer]);
    // The chunks are views of this push's bytes (or the chunker's reused join): hashed before the next job.
    for (let i = 0; i < out.length; i++) {
      if (Atomics.compareExchange(claims, i, 0, HASH_WORKER) !== 0) break; // the main thread has the rest
      hashes.set(hashBytesRaw(out[i]!), 32 * i);
      Atomics.store(claims, i, HASH_DONE);
      Atomics.notify(claims, i);
    }
  } catch (e) {
    const err = e as { message?: string; code?: string };
    reply = { error: { message: String(err.message ?? e), code: err.code } };
    parentPort!.postMessage(reply);
  }
});
