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

/**
 * git's user.name and user.email, as `git config --get` gives each (the last value set wins), with one git
 * process for both (~30 ms each on these machines). Empty values count as unset.
 */
function gitUser(): { name?: string; email?: string } {
  try {
    const r = spawnSync('git', ['config', '-z', '--get-regexp', '^user\\.(name|email)$'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    if (r.status !== 0) return {};
    const out: { name?: string; email?: string } = {};
    for (const entry of r.stdout.split('\0')) {
      const nl = entry.indexOf('\n');
      if (nl < 0) continue;
      const key = entry.slice(0, nl).toLowerCase();
      const value = entry.slice(nl + 1).trim();
      if (key === 'user.name') out.name = value || undefined;
      else if (key === 'user.email') out.email = value || undefined;
    }
    return out;
  } catch {
    return {};
  }
}

export function identity(repo: Repository): Identity {
  const env = process.env.STRATA_AUTHOR && parseIdentity(process.env.STRATA_AUTHOR);
  if (env) return env;
  let name = repo.db.getConfig('user.name');
  let email = repo.db.getConfig('user.email');
  if (name === undefined || email === undefined) {
    const git = gitUser();
    name ??= git.name;
    email ??= git.email;
  }
  if (name && email) return { name, email };
  let login = 'unknown';
  try {
    login = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { name: name ?? login, email: email ?? `${login}@${hostname()}` };
}
