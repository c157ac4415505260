/**
 * Worker thread body for chunkOnWorker (worker-chunks.ts): runs the Chunker over the buffers the main thread
 * reads (shared memory, so nothing is copied) and answers each push with the chunks it completed, as
 * lengths and BLAKE3 hashes, and the over-long records cut since the last answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hashBytesRaw } from '../../storage/hash.js';
import { Chunker } from './chunker.js';
import type { ChunkerJob, ChunkerReply, ChunkerSetup } from './worker-chunks.js';

const setup = workerData as ChunkerSetup;
// Each push's chunks are hashed before the next push: the chunker may join into reused buffers.
const chunker = new Chunker(setup.format, setup.params, { reuseJoins: true });

parentPort!.on('message', (job: ChunkerJob) => {
  let reply: ChunkerReply;
  try {
    const out = job.op === 'push' ? chunker.push(job.data) : chunker.finish();
    const lens = new Uint32Array(out.length);
    const hashes = new Uint8Array(32 * out.length);
    out.forEach((c, i) => {
      lens[i] = c.length;
      hashes.set(hashBytesRaw(c), 32 * i);
    });
    reply = { lens, hashes, long: chunker.takeLongRecords() };
    parentPort!.postMessage(reply, [lens.buffer, hashes.buffer]);
  } catch (e) {
    const err = e as { message?: string; code?: string };
    reply = { error: { message: String(err.message ?? e), code: err.code } };
    parentPort!.postMessage(reply);
  }
});
