/**
 * The one Output object commands render through: plain or JSON (Lines) on stdout, warnings and progress
 * on stderr, colour only on a TTY and never when NO_COLOR is set.
 */
import { fstatSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import type { Progress } from '../core/stage.js';

const requireHere = createRequire(import.meta.url);

/** Where Output writes: a process stream, or an FdSink. */
export type OutStream = NodeJS.WriteStream | FdSink;

/**
 * Whether descriptor `fd` is a terminal. node:tty (loaded with net and streams) only for a character device:
 * loading it cost a no-op `status` run by a script, whose output is a pipe or a file, ~8 ms.
 */
function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false; // closed
  }
  return (requireHere('node:tty') as typeof import('node:tty')).isatty(fd);
}

/**
 * stdout or stderr written with writeSync on its descriptor, for the no-op commands of the fast path
 * (fast-path.ts): setting up process.stdout and process.stderr for a pipe (net.Socket, libuv's pipe handle)
 * was ~8 ms of a no-op `status` run by a script, as much as the status itself. A blocking write, so nothing
 * is left queued at exit; EAGAIN (a descriptor some other process made non-blocking) waits 1 ms and retries.
 * Never mixed with the process stream of the same descriptor: only Output writes through it, and only for
 * the fast path's commands, which print nothing else.
 */
export class FdSink {
  readonly isTTY: boolean;
  constructor(readonly fd: number) {
    this.isTTY = isTerminal(fd);
  }

  write(s: string): boolean {
    const b = Buffer.from(s);
    for (let at = 0; at < b.length;) {
      try {
        at += writeSync(this.fd, b, at, b.length - at);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
    return true;
  }
}

let fdSinks: { stdout: FdSink; stderr: FdSink } | undefined;
/** New Outputs write through FdSinks instead of process.stdout/stderr (fast-path.ts, before it runs). */
export function useFdSinks(): void {
  fdSinks ??= { stdout: new FdSink(1), stderr: new FdSink(2) };
}

/** stdout and stderr as this run writes them: FdSinks after useFdSinks, else the process streams. */
export const stdio = (): { stdout: OutStream; stderr: OutStream } =>
  fdSinks ?? { stdout: process.stdout, stderr: process.stderr };

/** cli-progress is loaded only when a bar is actually shown (a TTY): most runs never need it. */
const loadSingleBar = (): typeof SingleBar =>
  (requireHere('cli-progress') as typeof import('cli-progress')).SingleBar;

export class Output {
  readonly color: boolean;
  readonly tty: boolean;

  constructor(
    readonly json = false,
    readonly stdout: OutStream = stdio().stdout,
    readonly stderr: OutStream = stdio().stderr,
  ) {
    this.tty = !!stderr.isTTY;
    this.color = !!stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  }

  /** A line of human output (suppressed in JSON mode). */
  line(s = ''): void {
    if (!this.json) this.stdout.write(s + '\n');
  }

  /** One JSON value as one line (JSON mode only). */
  record(v: unknown): void {
    if (this.json) this.stdout.write(JSON.stringify(v) + '\n');
  }

  /** Human lines or one JSON record, whichever this output is for. */
  result(v: unknown, human: () => void): void {
    if (this.json) this.record(v);
    else human();
  }

  /**
   * Resolves once stdout has room again. A command that prints many lines awaits it between them, so that a
   * slow reader (a pipe) holds the command back instead of the lines piling up in this process: a full
   * `diff --json` of the 1 GiB bench set into a pipe held ~170 MB of written lines.
   */
  async drained(): Promise<void> {
    const s = this.stdout;
    if (s instanceof FdSink || !s.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        s.off('error', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
      s.on('error', done);
    });
  }

  warn(s: string): void {
    this.stderr.write(`warning: ${s}\n`);
  }

  /** Advice on stderr, as git's `hint:` lines (nothing is wrong). */
  hint(s: string): void {
    this.stderr.write(`hint: ${s}\n`);
  }

  paint(code: 'red' | 'green' | 'yellow' | 'cyan' | 'bold' | 'dim', s: string): string {
    if (!this.color) return s;
    const c = { red: 31, green: 32, yellow: 33, cyan: 36, bold: 1, dim: 2 }[code];
    return `\x1b[${c}m${s}\x1b[0m`;
  }

  /** A byte progress bar on stderr when it is a TTY (never in JSON mode's stdout). */
  progress(label: string): Progress & { stop(): void } {
    if (!this.tty || process.env.STRATA_NO_PROGRESS) return { stop() {} };
    const bar = new (loadSingleBar())({
      format: `${label} {value} MiB | {speed} MiB/s | {file}`,
      stream: this.stderr instanceof FdSink ? process.stderr : this.stderr,
      hideCursor: true,
      clearOnComplete: true,
    });
    const start = Date.now();
    let bytes = 0;
    let file = '';
    bar.start(0, 0, { speed: '0', file: '' });
    const update = (): void => {
      const mib = bytes / 1048576;
      bar.update(Math.round(mib), {
        speed: (mib / Math.max(0.001, (Date.now() - start) / 1000)).toFixed(1),
        file,
      });
    };
    return {
      onBytes: (n) => {
        bytes += n;
        update();
      },
      onFile: (p) => {
        file = p;
        update();
      },
      stop: () => bar.stop(),
    };
  }
}
