/** strata's public library API: everything the CLI does, and what training code imports. */
export { StrataError, isStrataError, type ErrorCode } from '../storage/errors.js';
export { hashBytes, blake3Impl, type Hash } from '../storage/hash.js';
export { Repository, REPO_DIR, type InitOptions } from './repository.js';
export { add, rm, type AddResult, type Progress } from './stage.js';
export { commit, type CommitOptions, type CommitResult } from './commit.js';
export { status, isClean, type StatusReport } from './status.js';
export { switchTo, checkoutPaths, restore, reset, type SwitchResult } from './checkout.js';
export { log, show, lsTree, treeChanges, type LogEntry, type FileChange } from './history.js';
export { resolveCommit, resolveRevision, lookupPath, type Resolved } from './rev-parse.js';
export {
  readHead,
  listBranches,
  listTags,
  createBranch,
  deleteBranch,
  renameBranch,
  createTag,
  deleteTag,
  checkRefName,
} from './refs.js';
export { fsck, type FsckReport } from './fsck.js';
export { toRepoPath } from './worktree/paths.js';
export type { Commit, Tree, TreeEntry, FileManifest, Span, Identity } from './objects/objects.js';
// Pins (issue 5): open(pin) → PinnedRevision; sharded examples; export/verify; lock files.
export * from './pin/index.js';
export { diffRevisions, type DiffRevisionsOptions } from './diff/diff-revisions.js';
export { diffFile } from './diff/diff-file.js';
export type {
  DiffEvent,
  ChangeEvent,
  SummaryEvent,
  WarningEvent,
  FieldChange,
  DiffSide,
} from './diff/types.js';
export { merge, mergeBase, type MergeResult, type MergeConflict } from './merge.js';
export { cherryPick, type ApplyOptions, type ApplyResult } from './cherry-pick.js';
export { revert } from './revert.js';
export {
  runTransform,
  rerun,
  rerunStale,
  runStates,
  trace,
  type RunOptions,
  type RunState,
  type RunResult,
  type TransformRecord,
  type TransformPath,
  type LineageNode,
} from './transform.js';
