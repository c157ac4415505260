/**
 * Starts a private moto S3 server (`python3 -m moto.server`) on 127.0.0.1 with a free port, for any test file.
 *
 *   const moto = await startMoto();            // fails (never skips) when moto cannot start
 *   const store = new S3Store(moto.storeOptions('my/prefix'));
 *   ...
 *   await moto.stop();
 *
 * moto prints its bound address on stderr; both pipes are drained for the life of the process, or a full
 * pipe would block the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3StoreOptions } from '../../src/storage/s3-store.js';

export const MOTO_CREDENTIALS = { accessKeyId: 'testing-access-key', secretAccessKey: 'testing-secret-key' };
export const MOTO_REGION = 'us-east-1';

export interface Moto {
  /** e.g. http://127.0.0.1:40123 */
  endpoint: string;
  /** A bucket created at start. */
  bucket: string;
  /** Creates another bucket and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** S3Store options for `bucket` (or another) with a prefix; pass `endpoint` to go through a proxy. */
  storeOptions(prefix?: string, over?: Partial<S3StoreOptions>): S3StoreOptions;
  /** A raw SDK client for checks behind the store's back. */
  client: S3Client;
  /** Everything moto printed (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export async function startMoto(opts: { bucket?: string; timeoutMs?: number } = {}): Promise<Moto> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let child: ChildProcess;
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`moto did not report its port within ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const onData = (buf: Buffer): void => {
      log = (log + buf.toString('utf8')).slice(-20_000);
      const m = /Running on https?:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    // Keep both pipes flowing forever.
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start moto (python3 -m moto.server): ${e.message}`));
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`moto exited early (${code ?? sig}):\n${log}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: MOTO_REGION,
    endpoint,
    forcePathStyle: true,
    credentials: MOTO_CREDENTIALS,
  });
  const createBucket = async (name = `b-${randomUUID().slice(0, 8)}`): Promise<string> => {
    await client.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  };
  // Ready when a bucket can be created.
  const bucket = opts.bucket ?? 'strata-test';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await createBucket(bucket);
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child!.kill('SIGKILL');
        throw new Error(`moto did not become ready: ${(e as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const proc = child!;
  return {
    endpoint,
    bucket,
    client,
    createBucket,
    output: () => log,
    storeOptions: (prefix = '', over = {}) => ({
      bucket,
      prefix,
      endpoint,
      region: MOTO_REGION,
      forcePathStyle: true,
      credentials: MOTO_CREDENTIALS,
      ...over,
    }),
    stop: async () => {
      client.destroy();
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
