/** Chunk size parameters, apart from the chunker so opening a repository does not load the chunker. */
export interface ChunkParams {
  min: number;
  avg: number;
  max: number;
}

/** The starting parameters (4 KiB / 16 KiB / 64 KiB); bench/micro/chunker.ts measures the alternatives. */
export const DEFAULT_CHUNK_PARAMS: ChunkParams = Object.freeze({ min: 4096, avg: 16384, max: 65536 });

/** Chunk parameters read from a config file (the repository's or a remote's), if well-formed integers. */
export function chunkParamsFrom(v: unknown): ChunkParams | undefined {
  const c = v as Partial<ChunkParams> | null | undefined;
  if (
    !c ||
    typeof c !== 'object' ||
    !Number.isSafeInteger(c.min) ||
    !Number.isSafeInteger(c.avg) ||
    !Number.isSafeInteger(c.max)
  )
    return undefined;
  return { min: c.min!, avg: c.avg!, max: c.max! };
}
