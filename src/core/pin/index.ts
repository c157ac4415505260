/** Pins: open a pinned dataset revision, stream files and sharded examples, export/verify, lock files. */
export {
  parsePin,
  parsePinPath,
  formatPin,
  looksLikePin,
  locationKind,
  openReader,
  setRemoteReaderFactory,
  type RemoteOpener,
  type Pin,
  type LocationKind,
  type OpenedReader,
  type OpenReaderOptions,
} from './pin.js';
export {
  PinnedRevision,
  open,
  normalizePath,
  type PinnedFile,
  type ReadOptions,
  type ExampleSource,
} from './revision.js';
export { shardRange, RECORD_FORMATS, type Cursor, type Example, type ShardOptions } from './examples.js';
export { exampleStats, type FileStats, type FieldStats, type StatsOptions } from './stats.js';
export {
  exportRevision,
  verifyDirectory,
  verifyPinnedData,
  type ExportOptions,
  type ExportResult,
  type VerifyOptions,
  type VerifyReport,
  type VerifyFileReport,
  type VerifyStatus,
  type DataCheck,
} from './export.js';
export {
  LOCK_FILE,
  formatLock,
  parseLock,
  readLock,
  writeLock,
  lockAdd,
  lockRemove,
  lockVerify,
  lockAtGitRevision,
  resolveGitRevision,
  checkPinName,
  type LockFile,
  type LockPinCheck,
  type LockAtRevision,
} from './lock.js';
export { pinFor, type PinForResult } from './make-pin.js';
