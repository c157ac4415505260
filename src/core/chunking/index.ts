export {
  Chunker,
  chunkFormatForPath,
  chunkStream,
  DEFAULT_CHUNK_PARAMS,
  type ChunkFormat,
  type ChunkParams,
} from './chunker.js';
export { GEAR, GEAR_SEED_PREFIX, GEAR_TABLE_HASH, GEAR_VALUES } from './gear.js';
