/**
 * Author identity: `STRATA_AUTHOR="Name <email>"`, else the repository's user.name/user.email config,
 * else git's user.name/user.email, else the login name at this host.
 */
import { spawnSync } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import type { Identity } from './objects/objects.js';
import type { Repository } from './repository.js';

export function parseIdentity(s: string): Identity | undefined {
  const m = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(s);
  return m ? { name: m[1]!, email: m[2]! } : undefined;
}

function gitConfig(key: string): string | undefined {
  try {
    const r = spawnSync('git', ['config', '--get', key], { encoding: 'utf8', timeout: 5000 });
    const v = r.status === 0 ? r.stdout.trim() : '';
    return v || undefined;
  } catch {
    return undefined;
  }
}

export function identity(repo: Repository): Identity {
  const env = process.env.STRATA_AUTHOR && parseIdentity(process.env.STRATA_AUTHOR);
  if (env) return env;
  const name = repo.db.getConfig('user.name') ?? gitConfig('user.name');
  const email = repo.db.getConfig('user.email') ?? gitConfig('user.email');
  if (name && email) return { name, email };
  let login = 'unknown';
  try {
    login = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { name: name ?? login, email: email ?? `${login}@${hostname()}` };
}
