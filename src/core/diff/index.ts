/** Example-level diff: see docs/DIFF.md. */
export { diffFile } from './diff-file.js';
export { diffFields, wordDiff } from './fields.js';
export { canonicalJson, contentId } from './canonical.js';
export { formatFromPath } from './detect.js';
export { sideFromBytes, sideFromFile, sideFromPieces, type PieceOptions } from './local-side.js';
export { MAX_JSON_BYTES } from './records.js';
export type {
  ChangeEvent,
  ChangeKind,
  DiffCost,
  DiffEvent,
  DiffOptions,
  DiffPiece,
  DiffSide,
  FieldChange,
  FileFormat,
  SummaryEvent,
  WarningEvent,
} from './types.js';
