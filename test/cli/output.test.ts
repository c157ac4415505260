import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FdSink, Output } from '../../src/cli/output.js';

/** A stdout whose reader takes each write only when `take` is called (a pipe nobody reads yet). */
function slowStdout(): { stream: NodeJS.WriteStream; take: () => void; taken: string[] } {
  const pending: (() => void)[] = [];
  const taken: string[] = [];
  const stream = new Writable({
    highWaterMark: 64,
    write(chunk: Buffer, _enc, cb) {
      pending.push(() => {
        taken.push(chunk.toString());
        cb();
      });
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, take: () => pending.shift()?.(), taken };
}

describe('Output.drained', () => {
  it('resolves at once while stdout has room', async () => {
    const { stream } = slowStdout();
    const out = new Output(true, stream, stream);
    out.record({ a: 1 });
    await expect(out.drained()).resolves.toBeUndefined();
  });

  it('waits for a full stdout to be read before the command writes on', async () => {
    const { stream, take, taken } = slowStdout();
    const out = new Output(true, stream, stream);
    out.record({ text: 'x'.repeat(200) });
    out.record({ text: 'y'.repeat(200) });
    let done = false;
    const waiting = out.drained().then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    take();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false); // one line still unread
    take();
    await waiting;
    expect(done).toBe(true);
    expect(taken.length).toBe(2);
  });

  it('does not hang when stdout closes instead of draining', async () => {
    const { stream } = slowStdout();
    const out = new Output(true, stream, stream);
    out.record({ text: 'x'.repeat(200) });
    const waiting = out.drained();
    stream.destroy();
    await expect(waiting).resolves.toBeUndefined();
  });
});

describe('FdSink', () => {
  it('writes all of a string larger than a pipe to a non-blocking descriptor, waiting out EAGAIN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-fdsink-'));
    try {
      const fifo = join(dir, 'fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const out = join(dir, 'out');
      // A reader slower than the writer: the 64 KiB pipe fills, and each write then meets EAGAIN first.
      const reader = spawn('sh', ['-c', `sleep 0.2; cat "${fifo}" > "${out}"`]);
      const exited = new Promise((resolve) => reader.on('exit', resolve));
      let fd = -1;
      for (let i = 0; fd < 0 && i < 500; i++) {
        try {
          fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e; // no reader yet
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      const text = Array.from({ length: 40_000 }, (_, i) => `line ${i} \u00e9\u4e2d\n`).join('');
      const sink = new FdSink(fd);
      expect(sink.isTTY).toBe(false);
      sink.write(text);
      closeSync(fd);
      await exited;
      expect(readFileSync(out, 'utf8')).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
