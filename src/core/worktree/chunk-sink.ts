/**
 * Stores new chunks of a file through the compression pool: chunks are batched, compressed on worker
 * threads while the main thread keeps chunking and hashing, and appended to the pack in submission order
 * (so the pack layout does not depend on thread timing). Memory is bounded by the batches in flight.
 */
import { sharedCompressPool, type CompressPool, type PackedBatch } from '../../storage/compress-pool.js';
import type { LocalPacks } from '../../storage/local-packs.js';
import { KIND } from '../../storage/pack-format.js';

const BATCH_BYTES = 4 << 20;
/** A batch's shared region: a batch is sent when it holds BATCH_BYTES or the next chunk does not fit. */
const REGION_BYTES = BATCH_BYTES + (BATCH_BYTES >> 2);

/** A batch: its chunks' hashes and ends, back to back in its region from 0. */
interface Batch {
  hashes: string[];
  ends: number[];
  region: SharedArrayBuffer;
  /** The index generation when its first chunk was found absent (LocalPacks.putEncoded). */
  generation: number;
}

export class ChunkSink {
  private batch: Batch | undefined;
  private batchBytes = 0;
  private readonly inflight: { batch: Batch; result: Promise<PackedBatch> }[] = [];
  /** Chunks added and not yet written. */
  private readonly queued = new Set<string>();
  /**
   * A batch is copied into a shared region, which the worker compresses in place (compressPacked): no
   * buffer or object per chunk on either thread, to be collected later. A region is reused once its batch
   * is written.
   */
  private readonly spare: SharedArrayBuffer[] = [];

  /**
   * The pool is taken on first use only: a sink that stores nothing in full (every new chunk delta-coded,
   * or none new) must not start worker threads, since a pool worker that never ran a job keeps the
   * process alive (compress-pool.ts unrefs a worker only when it finishes a job).
   */
  constructor(
    private readonly packs: LocalPacks,
    private pool?: CompressPool,
  ) {}

  /**
   * Queues a chunk unless the repository (or this sink) already has it. `absentSince`: the index generation
   * (LocalPacks.indexGeneration) at which the caller found it absent from the index (hasMany): while that
   * holds, the index is not asked again, here or when the chunk is written.
   */
  async add(hash: string, data: Uint8Array, absentSince?: number): Promise<void> {
    if (this.queued.has(hash)) return;
    const generation = this.packs.indexGeneration;
    if (absentSince === generation ? this.packs.hasPending(hash) : this.packs.has(hash)) return;
    this.queued.add(hash);
    if (this.batchBytes + data.length > REGION_BYTES) await this.dispatch();
    // A copy (the chunk may be a view into a larger read buffer); a chunk larger than a region gets its own.
    const b = (this.batch ??= {
      hashes: [],
      ends: [],
      generation,
      region:
        data.length > REGION_BYTES
          ? new SharedArrayBuffer(data.length)
          : (this.spare.pop() ?? new SharedArrayBuffer(REGION_BYTES)),
    });
    new Uint8Array(b.region, this.batchBytes, data.length).set(data);
    this.batchBytes += data.length;
    b.hashes.push(hash);
    b.ends.push(this.batchBytes);
    if (this.batchBytes >= BATCH_BYTES) await this.dispatch();
  }

  private async dispatch(): Promise<void> {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    this.batchBytes = 0;
    const pool = (this.pool ??= sharedCompressPool());
    const maxInflight = Math.max(2, pool.size * 2);
    const result = pool.compressPacked(
      batch.region,
      Uint32Array.from(batch.ends),
      this.packs.compressionLevel,
    );
    result.catch(() => undefined); // observed in writeOldest
    this.inflight.push({ batch, result });
    while (this.inflight.length > maxInflight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { batch, result } = this.inflight.shift()!;
    const { codecs, ends } = await result;
    const stored = new Uint8Array(batch.region);
    for (let i = 0; i < ends.length; i++) {
      const raw = batch.ends[i]! - (i ? batch.ends[i - 1]! : 0);
      const s = i ? ends[i - 1]! : 0;
      this.packs.putEncoded(
        batch.hashes[i]!,
        KIND.chunk,
        codecs[i]!,
        raw,
        stored.subarray(s, ends[i]!),
        batch.generation,
      );
      this.queued.delete(batch.hashes[i]!); // in the pack now: packs.has() answers for it
    }
    // Written (putEncoded writes through): the region may be filled again.
    if (batch.region.byteLength === REGION_BYTES) this.spare.push(batch.region);
  }

  /** Writes everything queued; afterwards every added chunk is in the (unflushed) pack. */
  async finish(): Promise<void> {
    await this.dispatch();
    while (this.inflight.length) await this.writeOldest();
  }
}
