/**
 * Named remotes of a repository (`strata remote add|remove|list`): name → URL in the index's `remotes`
 * table, S3 settings in config (`remote.NAME.endpoint`, `remote.NAME.region`, `remote.NAME.checksums`).
 * URLs never carry credentials: S3 uses the AWS default credential chain.
 */
import { isAbsolute, resolve } from 'node:path';
import { StrataError } from '../../storage/errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { openStore, type OpenStoreOptions } from '../../storage/open-store.js';
import type { Repository } from '../repository.js';

export interface RemoteSettings {
  /** S3 endpoint (an S3-compatible server); default AWS_ENDPOINT_URL or AWS. */
  endpoint?: string;
  region?: string;
  /** 'when-required' for S3-compatible servers that reject the SDK's default checksums. */
  checksums?: 'when-supported' | 'when-required';
}

export interface RemoteInfo extends RemoteSettings {
  name: string;
  url: string;
}

export function checkRemoteName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.endsWith('.lock') || name.includes('..'))
    throw new StrataError('BAD_INPUT', `invalid remote name ${JSON.stringify(name)}`, { name });
}

/** A URL as it may be shown and stored: credentials (user:password@) are refused, paths made absolute. */
export function normalizeRemoteUrl(url: string, cwd = process.cwd()): string {
  if (typeof url !== 'string' || url.trim() === '')
    throw new StrataError('BAD_INPUT', 'empty remote URL', {});
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return isAbsolute(url) ? url : resolve(cwd, url);
  const rest = url.slice(scheme.length + 3);
  const authority = rest.split('/')[0] ?? '';
  if (authority.includes('@'))
    throw new StrataError(
      'BAD_INPUT',
      'credentials do not belong in a remote URL; S3 uses the AWS credential chain (environment, profile, SSO, instance role)',
      { scheme },
    );
  if (scheme !== 's3' && scheme !== 'file' && scheme !== 'memory')
    throw new StrataError('BAD_INPUT', `unsupported remote URL scheme ${JSON.stringify(scheme)}`, { scheme });
  return url;
}

/** An S3 endpoint as it may be stored and shown: an http(s) URL without credentials or query. */
export function checkEndpoint(endpoint: string): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new StrataError('BAD_INPUT', 'the endpoint is not a URL (expected http(s)://host[:port])', {});
  }
  if (u.username || u.password || u.search)
    throw new StrataError(
      'BAD_INPUT',
      'credentials do not belong in an endpoint URL (no user info, no query); S3 uses the AWS credential chain',
      {},
    );
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new StrataError('BAD_INPUT', `the endpoint must be http:// or https://, not ${u.protocol}`, {});
}

/** Opens the store a URL names (RetryStore(LimitStore(S3Store)) for s3://, LocalStore for paths). */
export function openRemoteStore(
  url: string,
  settings: RemoteSettings = {},
  opts: OpenStoreOptions = {},
): ObjectStore {
  const s3 = {
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.checksums === 'when-required'
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const }
      : {}),
    ...opts.s3,
  };
  return openStore(normalizeRemoteUrl(url, opts.cwd), { ...opts, s3 });
}

const cfgKey = (name: string, k: keyof RemoteSettings): string => `remote.${name}.${k}`;

export function listRemotes(repo: Repository): RemoteInfo[] {
  const rows = repo.db.prep('SELECT name, url FROM remotes ORDER BY name').all() as {
    name: string;
    url: string;
  }[];
  return rows.map((r) => ({ ...r, ...remoteSettings(repo, r.name) }));
}

function remoteSettings(repo: Repository, name: string): RemoteSettings {
  const s: RemoteSettings = {};
  const endpoint = repo.db.getConfig(cfgKey(name, 'endpoint'));
  const region = repo.db.getConfig(cfgKey(name, 'region'));
  const checksums = repo.db.getConfig(cfgKey(name, 'checksums'));
  if (endpoint) s.endpoint = endpoint;
  if (region) s.region = region;
  if (checksums === 'when-required' || checksums === 'when-supported') s.checksums = checksums;
  return s;
}

export function getRemote(repo: Repository, name: string): RemoteInfo {
  const r = repo.db.prep('SELECT name, url FROM remotes WHERE name = ?').get(name) as
    { name: string; url: string } | undefined;
  if (!r)
    throw new StrataError(
      'NOT_FOUND',
      `no remote named ${JSON.stringify(name)} (strata remote add ${name} URL)`,
      {
        remote: name,
      },
    );
  return { ...r, ...remoteSettings(repo, name) };
}

export function addRemote(
  repo: Repository,
  name: string,
  url: string,
  settings: RemoteSettings = {},
  cwd = process.cwd(),
): RemoteInfo {
  checkRemoteName(name);
  const norm = normalizeRemoteUrl(url, cwd);
  if (settings.endpoint !== undefined) checkEndpoint(settings.endpoint);
  // Opening checks the URL's shape (bucket name, prefix) without any request.
  void openRemoteStore(norm, settings, { cwd });
  repo.db.transaction(() => {
    if (repo.db.prep('SELECT 1 FROM remotes WHERE name = ?').get(name))
      throw new StrataError('ALREADY_EXISTS', `remote ${name} already exists`, { remote: name });
    repo.db.prep('INSERT INTO remotes (name, url) VALUES (?, ?)').run(name, norm);
    for (const k of ['endpoint', 'region', 'checksums'] as const)
      repo.db.setConfig(cfgKey(name, k), settings[k]);
    forgetRemoteState(repo, name);
  });
  return { name, url: norm, ...settings };
}

/**
 * Drops everything remembered about a remote: cached pack indexes, last-seen refs, its identity and
 * whether it must be verified (remote-index.ts).
 */
function forgetRemoteState(repo: Repository, name: string): void {
  repo.db.prep('DELETE FROM remote_objects WHERE remote = ?').run(name);
  repo.db.prep('DELETE FROM remote_packs WHERE remote = ?').run(name);
  repo.db.prep('DELETE FROM remote_refs WHERE remote = ?').run(name);
  repo.db.setConfig(`remote.${name}.id`, undefined);
  repo.db.setConfig(`remote.${name}.unverified`, undefined);
}

export function removeRemote(repo: Repository, name: string): void {
  getRemote(repo, name);
  repo.db.transaction(() => {
    repo.db.prep('DELETE FROM remotes WHERE name = ?').run(name);
    for (const k of ['endpoint', 'region', 'checksums'] as const)
      repo.db.setConfig(cfgKey(name, k), undefined);
    forgetRemoteState(repo, name);
    for (const r of repo.db.listRefs(`refs/remotes/${name}/`))
      repo.db.setRef(r.name, undefined, `remote: removed ${name}`);
  });
}
