/**
 * A local moto S3 server for push/clone, and the raw PUT/GET baseline through @aws-sdk/client-s3.
 *
 * moto is started on port 0 (`python3 -m moto.server -H 127.0.0.1 -p 0`); the real port is parsed from its
 * stderr (" * Running on http://127.0.0.1:PORT"). Both output streams are drained for the server's whole
 * life (a full pipe would stall it), and werkzeug's access-log lines are counted by HTTP method, which
 * gives the request counts of a push or clone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

export interface RequestCounts {
  total: number;
  byMethod: Record<string, number>;
}

export class Moto {
  private counts: RequestCounts = { total: 0, byMethod: {} };
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
  ) {}

  static start(timeoutMs = 30_000): Promise<Moto> {
    return new Promise((resolve, reject) => {
      const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let moto: Moto | undefined;
      let early = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`moto did not start within ${timeoutMs} ms: ${early.slice(-500)}`));
      }, timeoutMs);
      const onLine = (line: string): void => {
        if (!moto) {
          early += line + '\n';
          const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (m?.[1]) {
            clearTimeout(timer);
            moto = new Moto(child, m[1]);
            resolve(moto);
          }
          return;
        }
        const r = /"(GET|PUT|POST|HEAD|DELETE) \S+ HTTP\/[\d.]+" (\d{3})/.exec(line);
        if (r?.[1]) {
          moto.counts.total++;
          moto.counts.byMethod[r[1]] = (moto.counts.byMethod[r[1]] ?? 0) + 1;
        }
      };
      for (const stream of [child.stdout, child.stderr]) {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (s: string) => {
          buf += s;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            onLine(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
      }
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code) => {
        if (!moto) {
          clearTimeout(timer);
          reject(new Error(`moto exited with ${code}: ${early.slice(-500)}`));
        }
      });
    });
  }

  /** Request counts since the last call (and resets them). */
  takeCounts(): RequestCounts {
    const c = this.counts;
    this.counts = { total: 0, byMethod: {} };
    return c;
  }

  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL: this.endpoint,
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    };
  }

  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  }

  async createBucket(bucket: string): Promise<void> {
    await this.client().send(new CreateBucketCommand({ Bucket: bucket }));
  }

  /** Total bytes and object count under a prefix. */
  async usage(bucket: string, prefix: string): Promise<{ bytes: number; objects: number }> {
    const s3 = this.client();
    let bytes = 0;
    let objects = 0;
    let token: string | undefined;
    do {
      const r = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        bytes += o.Size ?? 0;
        objects++;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return { bytes, objects };
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

export interface RawThroughput {
  bytes: number;
  objects: number;
  putSeconds: number;
  getSeconds: number;
  putMBps: number;
  getMBps: number;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * The raw baseline: PUT `totalBytes` taken from `sources` (files, read in order) as objects of at most
 * `partBytes`, `concurrency` at a time, then GET them all back, then delete them. MB/s are 10^6 bytes/s.
 */
export async function rawThroughput(
  moto: Moto,
  bucket: string,
  sources: string[],
  totalBytes: number,
  partBytes = 64 << 20,
  concurrency = 4,
): Promise<RawThroughput> {
  const s3 = moto.client();
  const parts: { key: string; file: string; offset: number; length: number }[] = [];
  let remaining = totalBytes;
  for (const file of sources) {
    const fh = await open(file, 'r');
    const size = (await fh.stat()).size;
    await fh.close();
    for (let off = 0; off < size && remaining > 0; off += partBytes) {
      const length = Math.min(partBytes, size - off, remaining);
      parts.push({ key: `raw-baseline/part-${parts.length}`, file, offset: off, length });
      remaining -= length;
    }
    if (remaining <= 0) break;
  }
  const read = async (p: (typeof parts)[number]): Promise<Buffer> => {
    const fh = await open(p.file, 'r');
    try {
      const b = Buffer.allocUnsafe(p.length);
      await fh.read(b, 0, p.length, p.offset);
      return b;
    } finally {
      await fh.close();
    }
  };
  const bytes = parts.reduce((a, p) => a + p.length, 0);
  let t = performance.now();
  await pool(parts, concurrency, async (p) => {
    const body = await read(p);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: p.key, Body: body }));
  });
  const putSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  await pool(parts, concurrency, async (p) => {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: p.key }));
    const body = r.Body as AsyncIterable<Uint8Array> | undefined;
    let n = 0;
    if (body) for await (const chunk of body) n += chunk.length;
    if (n !== p.length) throw new Error(`raw GET ${p.key}: ${n} bytes, expected ${p.length}`);
  });
  const getSeconds = (performance.now() - t) / 1000;
  await pool(parts, concurrency, async (p) => {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: p.key }));
  });
  return {
    bytes,
    objects: parts.length,
    putSeconds,
    getSeconds,
    putMBps: bytes / 1e6 / putSeconds,
    getMBps: bytes / 1e6 / getSeconds,
  };
}
