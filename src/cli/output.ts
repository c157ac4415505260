/**
 * The one Output object commands render through: plain or JSON (Lines) on stdout, warnings and progress
 * on stderr, colour only on a TTY and never when NO_COLOR is set.
 */
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import type { Progress } from '../core/stage.js';

/** cli-progress is loaded only when a bar is actually shown (a TTY): most runs never need it. */
const loadSingleBar = (): typeof SingleBar =>
  (createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress')).SingleBar;

export class Output {
  readonly color: boolean;
  readonly tty: boolean;

  constructor(
    readonly json = false,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
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
    if (!s.writableNeedDrain) return;
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
      stream: this.stderr,
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
