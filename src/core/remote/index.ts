/** Remotes: push, fetch, pull, clone, ls-remote, and reading objects straight from a remote. */
export * from './layout.js';
export * from './remotes.js';
export * from './remote-index.js';
export * from './ranges.js';
export * from './reader.js';
export * from './push.js';
export * from './fetch.js';
export type { TransferProgress } from './progress.js';
export { isAncestor } from './graph.js';
