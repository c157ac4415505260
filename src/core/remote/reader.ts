/**
 * RemoteObjectReader: an ObjectReader (src/core/object-reader.ts) straight from a remote's packs, with
 * coalesced ranged GETs, parallel, bounded read-ahead, every object hash-verified. `open(pin)` for
 * training builds on it:
 *
 *   const reader = await RemoteObjectReader.open('s3://bucket/prefix');
 *   const commit = await readCommit(reader, hash);
 */
import { setMaxListeners } from 'node:events';
import { StrataError, throwIfAborted } from '../../storage/errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import type { ObjectReader } from '../object-reader.js';
import { requireRemoteConfig, type RemoteConfigFile } from './layout.js';
import { loadRemoteIndex, type RemoteIndex, type RemoteObjectLocation } from './remote-index.js';
import { openRemoteStore, type RemoteSettings } from './remotes.js';
import {
  planStreamReads,
  rangeObjects,
  verifyEncoded,
  type StreamRangeOptions,
  type StreamRange,
} from './ranges.js';
import { packKey } from './layout.js';

export interface RemoteReaderOptions extends StreamRangeOptions {
  /**
   * Bytes of objects held ahead of the consumer in getMany - in flight, or arrived and not yet yielded -
   * counted as stored: they are held compressed and decoded one at a time as they are yielded (default
   * 32 MiB).
   */
  readAheadBytes?: number;
  /**
   * Objects planned into ranged reads at once in getMany, counted as stored (default 256 MiB): only their
   * locations are held, and objects scattered between runs of others coalesce within one plan.
   */
  planAheadBytes?: number;
}

export class RemoteObjectReader implements ObjectReader {
  constructor(
    readonly store: ObjectStore,
    readonly index: RemoteIndex,
    readonly opts: RemoteReaderOptions = {},
    readonly config?: RemoteConfigFile,
  ) {}

  /** Opens a remote by URL: reads strata.json (refusing unknown formats) and every pack index. */
  static async open(
    urlOrStore: string | ObjectStore,
    opts: RemoteReaderOptions & { settings?: RemoteSettings } = {},
  ): Promise<RemoteObjectReader> {
    const store = typeof urlOrStore === 'string' ? openRemoteStore(urlOrStore, opts.settings) : urlOrStore;
    const config = await requireRemoteConfig(store);
    const index = await loadRemoteIndex(store, opts.signal);
    return new RemoteObjectReader(store, index, opts, config);
  }

  private locate(hash: string): RemoteObjectLocation {
    const l = this.index.find(hash);
    if (!l)
      throw new StrataError('NOT_FOUND', `object ${hash} not found on ${this.store.location}`, {
        hash,
        location: this.store.location,
      });
    return l;
  }

  async get(hash: string, opts?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const l = this.locate(hash);
    const key = packKey(l.pack);
    const bytes = await this.store.get(key, { offset: l.offset, length: l.length, signal: opts?.signal });
    return verifyEncoded(l, bytes, `${this.store.location}/${key}`);
  }

  /**
   * Yields objects in the order asked, with bounded read-ahead. The hashes are planned a batch at a time
   * (planAheadBytes of them as stored) into coalesced ranges, read in the order they are
   * first needed with up to `concurrency` in flight, and started only while the bytes held (in flight, or
   * arrived and not yet yielded) stay within readAheadBytes - except the range the consumer waits for.
   * Objects are kept as stored (compressed) and decoded and verified one at a time as they are yielded;
   * the few wanted objects of a sparse range (mostly gap bytes) are copied out so the range is not held.
   */
  async *getMany(
    hashes: Iterable<string>,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    const userSignal = opts?.signal ?? this.opts.signal;
    const budget = Math.max(1, this.opts.readAheadBytes ?? DEFAULT_READ_AHEAD);
    const planBytes = Math.max(budget, this.opts.planAheadBytes ?? DEFAULT_PLAN_AHEAD);
    // What a range brings ahead of its need is held until then: at most this far ahead (in stored bytes).
    const spread = this.opts.maxSpreadBytes ?? budget * SPREAD_READ_AHEADS;
    const concurrency = Math.max(1, this.opts.concurrency ?? 8);
    const ctl = new AbortController();
    const signal = userSignal ? AbortSignal.any([userSignal, ctl.signal]) : ctl.signal;
    setMaxListeners(0, signal); // one listener per request in flight
    const it = hashes[Symbol.iterator]();
    let exhausted = false;
    /** The objects to yield, in order, from `head` on. */
    let seq: RemoteObjectLocation[] = [];
    let head = 0;
    const slots = new Map<string, Slot>();
    /** Planned ranges not yet started, in the order first needed, from `next` on. */
    let ranges: Planned[] = [];
    let next = 0;
    let held = 0;
    let inflight = 0;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    const plan = (): boolean => {
      const batch: RemoteObjectLocation[] = [];
      let bytes = 0;
      while (bytes < planBytes) {
        const r = it.next();
        if (r.done) {
          exhausted = true;
          break;
        }
        const l = this.locate(r.value);
        seq.push(l);
        const s = slots.get(l.hash);
        if (s) {
          s.uses++;
          continue;
        }
        batch.push(l);
        bytes += l.length;
      }
      if (!batch.length) return false;
      ranges = ranges.slice(next);
      next = 0;
      for (const r of planStreamReads(batch, { ...this.opts, maxSpreadBytes: spread })) {
        const p: Planned = { read: r, bytes: r.end - r.start, remaining: r.objects.length, copied: false };
        for (const o of r.objects) slots.set(o.hash, { loc: o, uses: 0, range: p });
        ranges.push(p);
      }
      for (const l of batch) slots.get(l.hash)!.uses++;
      return true;
    };

    const release = (s: Slot): void => {
      if (s.range.copied) held -= s.loc.length;
      else if (--s.range.remaining === 0) held -= s.range.bytes;
    };

    const start = (p: Planned): void => {
      inflight++;
      held += p.bytes;
      const { read } = p;
      this.store.get(packKey(read.pack), { offset: read.start, length: p.bytes, signal }).then(
        (buf) => {
          inflight--;
          this.opts.onBytes?.(buf.length);
          const wanted = read.objects.reduce((n, o) => n + o.length, 0);
          // Mostly gap bytes: copy the wanted objects out and let the range go.
          p.copied = wanted * 2 < buf.length;
          if (p.copied) held += wanted - p.bytes;
          for (const { loc, encoded } of rangeObjects(read, buf))
            slots.get(loc.hash)!.data = p.copied ? Uint8Array.prototype.slice.call(encoded) : encoded;
          pump();
          notify();
        },
        (e: unknown) => {
          inflight--;
          failure ??= { error: e };
          notify();
        },
      );
    };

    /** Starts what the budget allows; the range holding the consumer's next object always may. */
    const pump = (): void => {
      while (!failure && inflight < concurrency) {
        if (next >= ranges.length && (exhausted || !plan())) return;
        const p = ranges[next]!;
        const waitedFor = head < seq.length && slots.get(seq[head]!.hash)?.range === p;
        if (held + p.bytes > budget && !waitedFor) return;
        next++;
        start(p);
      }
    };

    try {
      for (;;) {
        if (head >= seq.length) {
          if (exhausted || !plan()) break;
        }
        const l = seq[head]!;
        const s = slots.get(l.hash)!;
        while (!s.data) {
          if (failure) throw failure.error;
          pump();
          if (s.data) break;
          await new Promise<void>((res) => (wake = res));
        }
        if (failure) throw failure.error;
        throwIfAborted(userSignal);
        head++;
        if (head > 4096 && head * 2 > seq.length) {
          seq = seq.slice(head);
          head = 0;
        }
        const data = verifyEncoded(l, s.data, `${this.store.location}/${packKey(l.pack)}`);
        if (--s.uses === 0) {
          slots.delete(l.hash);
          release(s);
        }
        pump();
        yield { hash: l.hash, data };
      }
    } finally {
      // Stops what is still in flight when the consumer stops early or a read failed.
      ctl.abort();
    }
  }
}

interface Planned {
  read: StreamRange;
  /** Bytes counted held for it: the range's length, then (if copied) only its wanted objects'. */
  bytes: number;
  /** Objects of the range not yet yielded for the last time. */
  remaining: number;
  /** Whether its objects were copied out of the range's bytes. */
  copied: boolean;
}

interface Slot {
  loc: RemoteObjectLocation;
  /** Stored bytes, once the range has arrived. */
  data?: Uint8Array;
  /** Positions still to yield it at. */
  uses: number;
  range: Planned;
}

/** Default readAheadBytes: 32 MiB as stored (about 85 MB of raw text chunks), held compressed. */
const DEFAULT_READ_AHEAD = 32 * 1024 * 1024;
/** Default planAheadBytes: only locations are held for these (about 35 000 for 256 MiB of text chunks). */
const DEFAULT_PLAN_AHEAD = 256 * 1024 * 1024;
/**
 * Default maxSpreadBytes, in readAheadBytes: on the 1 GiB bench set (chunks of v0 scattered among other
 * versions' in 13 packs) 4 gives 299 ranges for v0 where no limit gives 258, 2 gives 387 and windows of
 * 32 MiB gave 465; and the memory held stays within (1 + 4) readAheadBytes whatever the layout.
 */
const SPREAD_READ_AHEADS = 4;
