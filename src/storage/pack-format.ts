/**
 * Pack and pack-index byte formats, shared by the local repository and remotes (docs/FORMAT.md, "Packs").
 *
 * pack  = header | entry*           header = "STRATAPK" | u32le version (1)
 * entry = hash[32] | kind u8 | codec u8 | u16 0 | u32le raw_length | u32le stored_length | payload
 * The self-describing entries let a pack be re-indexed by a scan if its index is ever lost.
 * A pack's name is the BLAKE3 of its bytes.
 *
 * idx   = "STRATAIX" | u32le version (1) | u32le count | record* | blake3(all preceding bytes)[32]
 * record = hash[32] | u64le offset | u32le stored_length | u32le raw_length | codec u8 | kind u8   (sorted by hash)
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StrataError } from './errors.js';
import { hashBytesRaw } from './hash.js';

export const PACK_MAGIC = Buffer.from('STRATAPK', 'ascii');
export const PACK_VERSION = 1;
export const PACK_HEADER_SIZE = 12;
export const ENTRY_HEADER_SIZE = 44;
const IDX_MAGIC = Buffer.from('STRATAIX', 'ascii');
const IDX_VERSION = 1;
const IDX_RECORD_SIZE = 50;

/** Object kinds as stored in packs and the index. */
export const KIND = { chunk: 0, file: 1, segment: 2, tree: 3, commit: 4 } as const;
export type KindName = keyof typeof KIND;
export const KIND_NAMES: readonly KindName[] = ['chunk', 'file', 'segment', 'tree', 'commit'];

export interface PackEntry {
  hash: string;
  kind: number;
  codec: number;
  /** Offset of the payload (not the entry header) within the pack. */
  offset: number;
  length: number;
  rawLength: number;
}

export function packHeader(): Buffer {
  const b = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_MAGIC.copy(b, 0);
  b.writeUInt32LE(PACK_VERSION, 8);
  return b;
}

export function checkPackHeader(b: Uint8Array, where: string): void {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < PACK_HEADER_SIZE || !buf.subarray(0, 8).equals(PACK_MAGIC)) {
    throw new StrataError('INTEGRITY', `${where} is not a strata pack`, { where });
  }
  const v = buf.readUInt32LE(8);
  if (v !== PACK_VERSION)
    throw new StrataError('UNSUPPORTED_VERSION', `${where}: pack version ${v}`, { where, version: v });
}

export function entryHeader(
  hash: string,
  kind: number,
  codec: number,
  rawLength: number,
  storedLength: number,
): Buffer {
  const b = Buffer.alloc(ENTRY_HEADER_SIZE);
  b.write(hash, 0, 32, 'hex');
  b.writeUInt8(kind, 32);
  b.writeUInt8(codec, 33);
  b.writeUInt32LE(rawLength, 36);
  b.writeUInt32LE(storedLength, 40);
  return b;
}

const KIND_COUNT = KIND_NAMES.length;

/** Parses the entry header at `at`; INTEGRITY if it is cut short or names an unknown kind. */
export function parseEntryHeader(
  b: Uint8Array,
  at: number,
  /** The offset named in errors (the entry's in its pack file, when `b` holds only part of it). */
  reportAt = at,
): Omit<PackEntry, 'offset'> & { storedLength: number } {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!Number.isSafeInteger(at) || at < 0 || at + ENTRY_HEADER_SIZE > buf.length)
    throw new StrataError('INTEGRITY', `pack entry header at ${reportAt} is cut short`, { at: reportAt });
  if (buf[at + 32]! >= KIND_COUNT)
    throw new StrataError('INTEGRITY', `pack entry at ${reportAt} has unknown kind ${buf[at + 32]}`, {
      at: reportAt,
      kind: buf[at + 32],
    });
  return {
    hash: buf.toString('hex', at, at + 32),
    kind: buf.readUInt8(at + 32),
    codec: buf.readUInt8(at + 33),
    rawLength: buf.readUInt32LE(at + 36),
    length: buf.readUInt32LE(at + 40),
    storedLength: buf.readUInt32LE(at + 40),
  };
}

/**
 * Walks the entries of a pack file (fsck, gc's unknown packs): each entry's header is checked and the entry
 * must fit in the file, else INTEGRITY naming where. Read in blocks into one reused buffer, looking only at
 * the entry headers: a pack is never all in memory (fsck read each 64 MiB pack into a new buffer, ~16k page
 * faults a pack). The file is opened when iteration starts and closed when it ends.
 */
export function* scanPackFile(path: string, where: string, blockBytes = 1024 * 1024): Generator<PackEntry> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.max(blockBytes, PACK_HEADER_SIZE, ENTRY_HEADER_SIZE));
    let start = 0;
    let len = 0;
    /** Brings bytes [pos, pos + need) into `buf` (a block from pos, if they are not there); their index in it. */
    const bring = (pos: number, need: number): number => {
      if (pos < start || pos + need > start + len) {
        const want = Math.min(buf.length, size - pos);
        len = 0;
        while (len < want) {
          const n = readSync(fd, buf, len, want - len, pos + len);
          if (n === 0) break;
          len += n;
        }
        start = pos;
      }
      return pos - start;
    };
    const head = bring(0, PACK_HEADER_SIZE);
    checkPackHeader(buf.subarray(head, head + Math.min(len, PACK_HEADER_SIZE)), where);
    let at = PACK_HEADER_SIZE;
    while (at < size) {
      if (at + ENTRY_HEADER_SIZE > size)
        throw new StrataError('INTEGRITY', `${where}: truncated entry header`, { where, at });
      const i = bring(at, ENTRY_HEADER_SIZE);
      let h: ReturnType<typeof parseEntryHeader>;
      try {
        h = parseEntryHeader(buf.subarray(0, len), i, at);
      } catch (e) {
        throw new StrataError('INTEGRITY', `${where}: ${(e as Error).message}`, { where, at }, { cause: e });
      }
      const offset = at + ENTRY_HEADER_SIZE;
      if (offset + h.length > size)
        throw new StrataError('INTEGRITY', `${where}: truncated entry`, { where, at });
      yield { hash: h.hash, kind: h.kind, codec: h.codec, offset, length: h.length, rawLength: h.rawLength };
      at = offset + h.length;
    }
  } finally {
    closeSync(fd);
  }
}

export function encodePackIndex(entries: readonly PackEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const body = Buffer.alloc(16 + sorted.length * IDX_RECORD_SIZE);
  IDX_MAGIC.copy(body, 0);
  body.writeUInt32LE(IDX_VERSION, 8);
  body.writeUInt32LE(sorted.length, 12);
  let at = 16;
  for (const e of sorted) {
    body.write(e.hash, at, 32, 'hex');
    body.writeBigUInt64LE(BigInt(e.offset), at + 32);
    body.writeUInt32LE(e.length, at + 40);
    body.writeUInt32LE(e.rawLength, at + 44);
    body.writeUInt8(e.codec, at + 48);
    body.writeUInt8(e.kind, at + 49);
    at += IDX_RECORD_SIZE;
  }
  return Buffer.concat([body, hashBytesRaw(body)]);
}

export function decodePackIndex(b: Uint8Array, where: string): PackEntry[] {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < 48 || !buf.subarray(0, 8).equals(IDX_MAGIC)) {
    throw new StrataError('INTEGRITY', `${where} is not a strata pack index`, { where });
  }
  const version = buf.readUInt32LE(8);
  if (version !== IDX_VERSION)
    throw new StrataError('UNSUPPORTED_VERSION', `${where}: index version ${version}`, { where, version });
  const count = buf.readUInt32LE(12);
  const bodyLen = 16 + count * IDX_RECORD_SIZE;
  if (buf.length !== bodyLen + 32) {
    throw new StrataError(
      'INTEGRITY',
      `${where}: pack index of ${buf.length} bytes cannot hold the ${count} records it claims`,
      { where, count },
    );
  }
  if (!hashBytesRaw(buf.subarray(0, bodyLen)).equals(buf.subarray(bodyLen))) {
    throw new StrataError('INTEGRITY', `${where}: pack index checksum mismatch`, { where });
  }
  const out: PackEntry[] = [];
  let prev = '';
  for (let at = 16; at < bodyLen; at += IDX_RECORD_SIZE) {
    const e: PackEntry = {
      hash: buf.toString('hex', at, at + 32),
      offset: Number(buf.readBigUInt64LE(at + 32)),
      length: buf.readUInt32LE(at + 40),
      rawLength: buf.readUInt32LE(at + 44),
      codec: buf.readUInt8(at + 48),
      kind: buf.readUInt8(at + 49),
    };
    const bad = (why: string): never => {
      throw new StrataError('INTEGRITY', `${where}: record for ${e.hash} ${why}`, { where, hash: e.hash });
    };
    if (e.hash < prev) bad('is out of order (records are sorted by hash)');
    if (e.kind >= KIND_COUNT) bad(`has unknown kind ${e.kind}`);
    if (!Number.isSafeInteger(e.offset) || e.offset < PACK_HEADER_SIZE + ENTRY_HEADER_SIZE)
      bad(`has impossible offset ${e.offset}`);
    prev = e.hash;
    out.push(e);
  }
  return out;
}
