/**
 * Stores new chunks of a file through the compression pool: chunks are batched, compressed on worker
 * threads while the main thread keeps chunking and hashing, and appended to the pack in submission order
 * (so the pack layout does not depend on thread timing). Memory is bounded by the batches in flight.
 */
import { sharedCompressPool, type CompressPool, type Compressed } from '../../storage/compress-pool.js';
import type { LocalPacks } from '../../storage/local-packs.js';
import { KIND } from '../../storage/pack-format.js';

const BATCH_BYTES = 4 << 20;
/** A batch's shared region: a batch is sent when it holds BATCH_BYTES or the next chunk does not fit. */
const REGION_BYTES = BATCH_BYTES + (BATCH_BYTES >> 2);

interface Item {
  hash: string;
  data: Uint8Array;
}

export class ChunkSink {
  private batch: Item[] = [];
  private batchBytes = 0;
  private readonly inflight: {
    items: Item[];
    result: Promise<Compressed[]>;
    region: SharedArrayBuffer | undefined;
  }[] = [];
  private readonly queued = new Set<string>();
  /**
   * The batch being filled is copied into a shared region (the worker reads it there: no copy per chunk on
   * either thread, to be collected later); a region is reused once its batch is written.
   */
  private region: SharedArrayBuffer | undefined;
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

  /** Queues a chunk unless the repository (or this sink) already has it. */
  async add(hash: string, data: Uint8Array): Promise<void> {
    if (this.queued.has(hash) || this.packs.has(hash)) return;
    this.queued.add(hash);
    if (this.batchBytes + data.length > REGION_BYTES) await this.dispatch();
    // A copy (the chunk may be a view into a larger read buffer), into the batch's region if it fits.
    let copy: Uint8Array;
    if (data.length <= REGION_BYTES) {
      this.region ??= this.spare.pop() ?? new SharedArrayBuffer(REGION_BYTES);
      copy = new Uint8Array(this.region, this.batchBytes, data.length);
      copy.set(data);
    } else copy = Uint8Array.prototype.slice.call(data);
    this.batch.push({ hash, data: copy });
    this.batchBytes += data.length;
    if (this.batchBytes >= BATCH_BYTES) await this.dispatch();
  }

  private async dispatch(): Promise<void> {
    if (this.batch.length === 0) return;
    const items = this.batch;
    const region = this.region;
    this.batch = [];
    this.batchBytes = 0;
    this.region = undefined;
    const pool = (this.pool ??= sharedCompressPool());
    const maxInflight = Math.max(2, pool.size * 2);
    const result = pool.compress(
      items.map((i) => i.data),
      this.packs.compressionLevel,
    );
    result.catch(() => undefined); // observed in writeOldest
    this.inflight.push({ items, result, region });
    while (this.inflight.length > maxInflight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { items, result, region } = this.inflight.shift()!;
    const out = await result;
    items.forEach((it, i) =>
      this.packs.putEncoded(it.hash, KIND.chunk, out[i]!.codec, it.data.length, out[i]!.bytes),
    );
    // Written (putEncoded writes through): the region may be filled again.
    if (region) this.spare.push(region);
  }

  /** Writes everything queued; afterwards every added chunk is in the (unflushed) pack. */
  async finish(): Promise<void> {
    await this.dispatch();
    while (this.inflight.length) await this.writeOldest();
  }
}
