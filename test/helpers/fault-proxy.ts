/**
 * A loopback HTTP proxy that sits in front of moto (or any HTTP server) and injects faults, per request number
 * or per matcher. Point an S3Store's `endpoint` at `proxy.endpoint`.
 *
 *   const proxy = await startFaultProxy(moto.endpoint);
 *   proxy.inject({ fault: 'slowdown', times: 2 });                            // the next 2 requests
 *   proxy.inject({ fault: 'lose-response', match: (r) => r.headers['if-none-match'] === '*', times: 1 });
 *   proxy.inject({ fault: 'reset', match: (r) => r.n === 7 });                // request number 7
 *   proxy.chaos(0.3, ['slowdown', 'reset', 'truncate', 'lose-response'], 42); // seeded random faults
 *   proxy.requests                                                           // every request and its fault
 *
 * Faults: 'slowdown' answers 503 SlowDown without forwarding; 'reset' destroys the client connection without
 * forwarding; 'truncate' forwards, then sends the response headers and half of the body and cuts the
 * connection; 'lose-response' forwards (the request lands upstream) and cuts the connection instead of
 * answering.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from './prng.js';

export type Fault = 'slowdown' | 'reset' | 'truncate' | 'lose-response';

export interface ProxyRequest {
  /** 1-based number of the request since the proxy started. */
  n: number;
  method: string;
  /** Path and query, e.g. /bucket/prefix/key?partNumber=2&uploadId=... */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface FaultRule {
  fault: Fault;
  /** Which requests (default: every one). */
  match?: (r: ProxyRequest) => boolean;
  /** How many matching requests get the fault (default: unlimited). */
  times?: number;
}

export interface FaultProxy {
  endpoint: string;
  /** Every request seen, with the fault it got (if any) and the upstream status (if it was forwarded). */
  readonly requests: (ProxyRequest & { fault?: Fault; status?: number })[];
  inject(rule: FaultRule): void;
  /** Fault a share `rate` of requests at random (seeded), choosing among `faults`. */
  chaos(rate: number, faults: Fault[], seed?: number, match?: (r: ProxyRequest) => boolean): void;
  /** Removes every rule and chaos setting (keeps the request log). */
  clear(): void;
  close(): Promise<void>;
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>';

const readBody = (m: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    m.on('data', (c: Buffer) => parts.push(c));
    m.on('end', () => resolve(Buffer.concat(parts)));
    m.on('error', reject);
  });

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let rules: { rule: FaultRule; left: number }[] = [];
  let chaos:
    { rate: number; faults: Fault[]; rand: () => number; match?: (r: ProxyRequest) => boolean } | undefined;
  const requests: (ProxyRequest & { fault?: Fault; status?: number })[] = [];
  let n = 0;

  const choose = (r: ProxyRequest): Fault | undefined => {
    for (const entry of rules) {
      if (entry.left > 0 && (entry.rule.match ?? (() => true))(r)) {
        entry.left--;
        return entry.rule.fault;
      }
    }
    if (chaos && (chaos.match ?? (() => true))(r) && chaos.rand() < chaos.rate) {
      return chaos.faults[Math.floor(chaos.rand() * chaos.faults.length)];
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    const info: ProxyRequest = {
      n: ++n,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
    };
    const fault = choose(info);
    const entry: ProxyRequest & { fault?: Fault; status?: number } = { ...info, fault };
    requests.push(entry);
    const cut = (): void => void req.socket.destroy();

    if (fault === 'reset') return cut();
    if (fault === 'slowdown') {
      req.resume();
      req.on('end', () => {
        res.writeHead(503, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(SLOW_DOWN),
        });
        res.end(SLOW_DOWN);
      });
      return;
    }
    const up = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        entry.status = ur.statusCode;
        if (fault === 'lose-response') {
          // The request has landed upstream; the client never hears about it.
          ur.resume();
          ur.on('end', cut);
          return;
        }
        if (fault === 'truncate') {
          void readBody(ur).then((body) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(cut, 5));
          }, cut);
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', cut);
    req.pipe(up);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject: (rule) => void rules.push({ rule, left: rule.times ?? Infinity }),
    chaos: (rate, faults, seed = 1, match) => void (chaos = { rate, faults, rand: mulberry32(seed), match }),
    clear: () => {
      rules = [];
      chaos = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
