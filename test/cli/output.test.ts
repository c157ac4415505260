import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';

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
