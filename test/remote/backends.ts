/** The two remote backends every remote test runs against: a directory (file://) and S3 (moto). */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { openRemoteStore, type RemoteSettings } from '../../src/core/remote/index.js';
import { MOTO_CREDENTIALS, startMoto, type Moto } from '../helpers/moto.js';
import { tmp } from './helpers.js';

export interface Backend {
  name: string;
  /** A fresh, empty remote URL. */
  url(): string;
  settings: RemoteSettings;
  /** A store on a URL (for counting requests or looking behind the remote's back). */
  store(url: string): ObjectStore;
  stop(): Promise<void>;
}

export function fileBackend(): Backend {
  const root = tmp('remotes');
  return {
    name: 'file',
    url: () => pathToFileURL(join(root, randomUUID().slice(0, 8))).href,
    settings: {},
    store: (url) => openRemoteStore(url),
    stop: async () => {},
  };
}

/** Sets the AWS credential environment the S3 remotes use (moto accepts any keys). */
export function setAwsEnv(): void {
  process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
}

export async function s3Backend(): Promise<Backend & { moto: Moto }> {
  setAwsEnv();
  const moto = await startMoto();
  const settings: RemoteSettings = { endpoint: moto.endpoint };
  return {
    name: 's3',
    moto,
    url: () => `s3://${moto.bucket}/r-${randomUUID().slice(0, 8)}/ds`,
    settings,
    store: (url) => openRemoteStore(url, settings),
    stop: () => moto.stop(),
  };
}
