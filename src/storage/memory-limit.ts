import { createRequire } from 'node:module';
import { setV8Flag } from './v8-flags.js';

/**
 * A soft limit on the process's resident memory, like Go's GOMEMLIMIT: long commands call `check()` at
 * points where much of what they allocated has just died (a phase ends, a chunk or region is done), and
 * when the resident set is above the limit it runs a full garbage collection.
 *
 * Why: V8 starts a full collection when its old space has grown by a factor of what was live after the
 * last one, and frees ArrayBuffers (chunk bytes, typed-array tables) only then. A commit or diff whose
 * phases each make tens of MB of tables and buffers that die at once so holds the garbage of one phase
 * while the next grows (the shuffle commit of the 1 GiB bench: ~114 MB of V8 heap, ~27 MB of it live, at
 * its peak). Collecting when the limit is crossed bounds that garbage, at the cost of a collection only
 * when memory is actually high.
 *
 * Paced: forced collections take at most PACE of the time (over the last 10 s at most), and one that frees
 * little (what is held is live) makes the next wait, so a command whose live data is above the limit (a huge
 * diff's tables) keeps most of its speed and only loses the bound. The limit is
 * STRATA_MEMORY_LIMIT (MiB; 0 turns it off), else DEFAULT_LIMIT_MIB in the CLI (enableMemoryLimit) and off
 * in a program that uses strata as a library.
 */
export const DEFAULT_LIMIT_MIB = 240;
/** Largest share of wall time spent in forced collections, over the last PACE_WINDOW_MS at most. */
const PACE = 0.1;
const PACE_WINDOW_MS = 10_000;
/** A collection freeing less than this backs off: MIN_COOLDOWN_MS, doubled per such collection, at most MAX. */
const WORTH_FREEING = 16 * 1024 * 1024;
const MIN_COOLDOWN_MS = 250;
const MAX_COOLDOWN_MS = 4000;
/** At most one look at the resident set per this many ms (a look costs ~10 µs). */
const CHECK_EVERY_MS = 10;

type Collect = () => void;
let collect: Collect | null | undefined;

/**
 * The engine's full collection, or null where it cannot be had: `gc` when node runs with --expose-gc, else
 * exposed now (V8 installs `gc` in contexts made after the flag is set; jest's leak detector does the same).
 */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  const g = (globalThis as { gc?: unknown }).gc;
  if (typeof g === 'function') return (collect = g as Collect);
  try {
    // (Loaded here, not at import: the fast path's status and commit import this module and never collect.)
    const load = createRequire(import.meta.url);
    setV8Flag('--expose-gc', '--no-expose-gc');
    const f: unknown = (load('node:vm') as typeof import('node:vm')).runInNewContext('gc');
    collect = typeof f === 'function' ? (f as Collect) : null;
  } catch {
    collect = null;
  }
  return collect;
}

export class MemoryLimit {
  /** Forced collections so far, and the ms they took. */
  collections = 0;
  collectMs = 0;
  /** Bytes of heap and ArrayBuffers the last forced collection freed. */
  lastFreed = 0;
  /** The pace's window: collection time spent since `pace.from` (decayed as the window slides). */
  private readonly pace = { from: performance.now(), ms: 0 };
  private lastCheck = -Infinity;
  /** No collection before this time, and the wait set after the last that freed little. */
  private quietUntil = 0;
  private cooldown = 0;

  constructor(
    /** Bytes; 0: never collect. */
    readonly limit: number = limitFromEnv(),
    private readonly rss: () => number = () => process.memoryUsage.rss(),
    /** Bytes of heap and ArrayBuffers in use (what a collection frees is measured by it). */
    private readonly managed: () => number = managedBytes,
  ) {}

  /**
   * Collects if the resident set is above the limit, the pace allows, and no back-off is running; true if it
   * did. Cheap when it does not (a clock read; the resident set at most every CHECK_EVERY_MS).
   */
  check(): boolean {
    if (this.limit <= 0) return false;
    const now = performance.now();
    if (now - this.lastCheck < CHECK_EVERY_MS || now < this.quietUntil) return false;
    this.lastCheck = now;
    if (this.rss() <= this.limit) return false;
    if (!paceAllows(this.pace, now)) return false;
    const gc = collector();
    if (!gc) return false;
    const before = this.managed();
    gc();
    const end = performance.now();
    this.collections++;
    this.collectMs += end - now;
    this.pace.ms += end - now;
    this.lastCheck = end;
    // A collection that freed little says that what is held is live: wait longer before the next (doubling),
    // until one frees enough again.
    this.lastFreed = before - this.managed();
    this.cooldown =
      this.lastFreed >= WORTH_FREEING
        ? 0
        : Math.min(MAX_COOLDOWN_MS, Math.max(2 * this.cooldown, MIN_COOLDOWN_MS));
    this.quietUntil = end + this.cooldown;
    return true;
  }
}

/**
 * Whether forced collections may run at `now`: the time they took in the window is at most PACE of it. The
 * window reaches back at most PACE_WINDOW_MS; older time is dropped and the time spent scaled down with it, so
 * a process that was idle (or under the limit) for long does not bank a budget that would let it collect back
 * to back later.
 */
export function paceAllows(pace: { from: number; ms: number }, now: number): boolean {
  const span = now - pace.from;
  if (span > PACE_WINDOW_MS) {
    pace.ms *= PACE_WINDOW_MS / span;
    pace.from = now - PACE_WINDOW_MS;
  }
  return pace.ms <= PACE * (now - pace.from);
}

/** Bytes the engine manages: its heap in use and ArrayBuffers (~13 µs to ask). */
function managedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** MiB when STRATA_MEMORY_LIMIT is not set: 0 (off) unless enableMemoryLimit was called. */
let defaultMib = 0;

function limitFromEnv(): number {
  const raw = process.env.STRATA_MEMORY_LIMIT;
  const mib = raw === undefined || raw === '' ? defaultMib : Number(raw);
  return Number.isFinite(mib) && mib > 0 ? mib * 1024 * 1024 : 0;
}

let shared: MemoryLimit | undefined;
/** The process's limit, shared by every command it runs. */
export function memoryLimit(): MemoryLimit {
  return (shared ??= new MemoryLimit());
}

/**
 * Turns the limit on for this process (DEFAULT_LIMIT_MIB, unless STRATA_MEMORY_LIMIT says otherwise): the CLI
 * does, at start. A program using strata as a library keeps its own memory policy (no forced collections in
 * its process) unless it calls this or sets STRATA_MEMORY_LIMIT.
 */
export function enableMemoryLimit(mib = DEFAULT_LIMIT_MIB): void {
  defaultMib = mib;
  shared = undefined;
}
