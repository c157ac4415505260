/**
 * With a key, the keys of the equal lines of changed regions (unchanged examples), kept as 64-bit
 * fingerprints rather than as records: such an example takes part in no change unless its key recurs, among
 * the other equal lines or among the examples that changed. `add` says when that may be so (a fingerprint
 * met twice, where one was an equal line's) or when the set outgrew its budget while it held an equal line's
 * key, or an equal line came after it had: the diff then runs again the exact way, with a record per equal
 * line (diff-file.ts). Keys of changed examples alone can never conflict, so past the budget they are no
 * longer kept until an equal line comes (a keyed shuffle, one region of changed examples, ran twice). A
 * collision of fingerprints can only cost that second run, never a wrong result.
 */
const EQUAL = 1;
const EQUAL_TWICE = 2;
const CHANGED = 4;

export class KeyPresence {
  /** Open addressing: per slot the fingerprint's two words and its flags (0: empty). */
  private slots = new Uint32Array(3 * 1024);
  private size = 0;
  /** Keys of equal lines in the set. */
  private equals = 0;
  /** The set outgrew its budget with only changed examples' keys in it: those are no longer kept. */
  private full = false;
  /** True once an equal line's key may recur, or cannot be checked (the set outgrew its budget). */
  conflict = false;

  constructor(private readonly budgetBytes: number) {}

  /** Notes a key, of an equal line (`equal`) or of an example that changed; false once in conflict. */
  add(key: string, equal: boolean): boolean {
    if (this.conflict) return false;
    if (this.full) {
      // Changed examples' keys past the budget: an equal line's key could not be checked against them.
      if (equal) this.conflict = true;
      return !this.conflict;
    }
    let h1 = 0x811c9dc5;
    let h2 = 0x9e3779b1;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    h1 >>>= 0;
    h2 = (h2 | 1) >>> 0;
    const cap = this.slots.length / 3;
    for (let i = h1 & (cap - 1); ; i = (i + 1) & (cap - 1)) {
      const at = 3 * i;
      const flags = this.slots[at + 2]!;
      if (flags === 0) {
        this.slots[at] = h1;
        this.slots[at + 1] = h2;
        this.slots[at + 2] = equal ? EQUAL : CHANGED;
        if (equal) this.equals++;
        if (++this.size * 2 > cap) this.grow();
        return !this.conflict;
      }
      if (this.slots[at] !== h1 || this.slots[at + 1] !== h2) continue;
      const next = flags | (equal ? (flags & EQUAL ? EQUAL_TWICE : EQUAL) : CHANGED);
      if (equal && !(flags & EQUAL)) this.equals++;
      this.slots[at + 2] = next;
      if (next & EQUAL && next & (EQUAL_TWICE | CHANGED)) this.conflict = true;
      return !this.conflict;
    }
  }

  private grow(): void {
    const old = this.slots;
    if (old.byteLength * 2 > this.budgetBytes) {
      if (this.equals > 0) this.conflict = true;
      else {
        this.full = true;
        this.slots = new Uint32Array(0);
      }
      return;
    }
    this.slots = new Uint32Array(old.length * 2);
    const cap = this.slots.length / 3;
    for (let at = 0; at < old.length; at += 3) {
      if (old[at + 2] === 0) continue;
      let i = old[at]! & (cap - 1);
      while (this.slots[3 * i + 2] !== 0) i = (i + 1) & (cap - 1);
      this.slots.set(old.subarray(at, at + 3), 3 * i);
    }
  }
}
