/**
 * Runs one command as a child process and measures it: wall time (hrtime around spawn → exit) and peak RSS.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M -o FILE cmd ...`): it is ru_maxrss from wait4(), in KiB -
 * the peak resident set of the largest single process among the command and the descendants it waited for
 * (git's clean-filter child git-lfs, a restic/borg helper...), not a sum over them. Worker threads share their
 * process's RSS, so for strata it is the whole Node process. Node cannot give a child's rusage itself
 * (process.resourceUsage() is only the current process), hence GNU time. Without /usr/bin/time peak RSS is null.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = existsSync(GNU_TIME);

export interface CommandRecord {
  /** The command line, for the record (joined with spaces, not shell-quoted). */
  command: string;
  cwd: string;
  ok: boolean;
  exitCode: number | null;
  signal?: string | null;
  seconds: number;
  /** Peak RSS in KiB (GNU time %M); null when it could not be measured. */
  maxRssKiB: number | null;
  userSeconds?: number | null;
  sysSeconds?: number | null;
  /** Why it is not ok: spawn failure, timeout, exit code and the tail of stderr. */
  error?: string;
}

export interface CommandResult extends CommandRecord {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Exit codes counted as success (default [0]). */
  okCodes?: number[];
  timeoutMs?: number;
  /** Keep at most this many bytes of stdout (default 64 MiB); the rest is dropped. */
  maxStdout?: number;
}

let seq = 0;

/** The first line that reads like an error message ("error: ...", "strata: ...", "fatal: ..."). */
function errorLine(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim());
  return lines.find((l) => /^(error|fatal|strata|Fatal|Error)\b.*:/.test(l)) ?? undefined;
}

function tail(s: string, n = 2000): string {
  const t = s.trim();
  return t.length > n ? '…' + t.slice(t.length - n) : t;
}

export function runTimed(cmd: string, args: string[], opts: RunOptions): Promise<CommandResult> {
  const okCodes = opts.okCodes ?? [0];
  const maxStdout = opts.maxStdout ?? 64 << 20;
  const timeFile = join(tmpdir(), `strata-bench-time-${process.pid}-${seq++}.txt`);
  const command = [cmd, ...args].join(' ');
  const [file, argv] = HAVE_GNU_TIME
    ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args]]
    : [cmd, args];
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    const t0 = process.hrtime.bigint();
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (b: Buffer) => {
      if (outBytes < maxStdout) out.push(b);
      outBytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('utf8');
      if (err.length > 256 * 1024) err = err.slice(err.length - 128 * 1024);
    });
    child.on('error', (e) => {
      spawnError = e;
    });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (timer) clearTimeout(timer);
      let maxRssKiB: number | null = null;
      let userSeconds: number | null = null;
      let sysSeconds: number | null = null;
      let stderr = err;
      if (HAVE_GNU_TIME && existsSync(timeFile)) {
        const text = readFileSync(timeFile, 'utf8');
        rmSync(timeFile, { force: true });
        // GNU time writes "Command exited with non-zero status N" before the format line.
        const line = text.trim().split('\n').at(-1) ?? '';
        const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(line.trim());
        if (m) {
          maxRssKiB = Number(m[1]);
          userSeconds = Number(m[2]);
          sysSeconds = Number(m[3]);
        }
        // GNU time exits 127 when it cannot run the command and says so on stderr.
        if (code === 127 && /No such file|cannot run/.test(stderr))
          spawnError ??= new Error(tail(stderr, 300));
      }
      const stdout = Buffer.concat(out).toString('utf8');
      let ok = code !== null && okCodes.includes(code) && !timedOut && !spawnError;
      let error: string | undefined;
      if (spawnError) error = `could not run ${cmd}: ${spawnError.message}`;
      else if (timedOut) error = `timed out after ${((opts.timeoutMs ?? 0) / 1000).toFixed(0)} s`;
      else if (!ok) error = `exit ${code ?? signal}: ${errorLine(stderr) ?? (tail(stderr) || tail(stdout))}`;
      const unknown = /unknown command '[^']*'|unknown option '[^']*'|not implemented[^\n]*/i.exec(stderr);
      if (unknown) {
        ok = false;
        error = `not implemented: ${unknown[0]} (exit ${code ?? signal})`;
      }
      stderr = tail(stderr, 64 * 1024);
      resolve({
        command,
        cwd: opts.cwd,
        ok,
        exitCode: code,
        signal,
        seconds,
        maxRssKiB,
        userSeconds,
        sysSeconds,
        ...(error !== undefined ? { error } : {}),
        stdout,
        stderr,
      });
    });
  });
}

/** The record without the captured output (what goes into results.json). */
export function record(r: CommandResult): CommandRecord {
  const { stdout: _o, stderr: _e, ...rest } = r;
  return rest;
}

/** Runs a command for its output only (versions, set-up); never throws. */
export async function capture(
  cmd: string,
  args: string[],
  opts: Partial<RunOptions> = {},
): Promise<{ ok: boolean; stdout: string; stderr: string; error?: string }> {
  const r = await runTimed(cmd, args, { cwd: opts.cwd ?? process.cwd(), ...opts });
  return {
    ok: r.ok,
    stdout: r.stdout,
    stderr: r.stderr,
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}
