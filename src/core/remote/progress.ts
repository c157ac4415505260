/** Progress reports of remote transfers (the CLI renders them on a TTY). */
export interface TransferProgress {
  /** Bytes sent or received. */
  onBytes?: (n: number) => void;
  /** Objects sent or received. */
  onObjects?: (n: number) => void;
  /** What is happening now ("counting objects", "writing packs" ...). */
  onPhase?: (phase: string, total?: { objects: number; bytes: number }) => void;
}
