/**
 * The author identity of a commit (src/core/identity.ts): STRATA_AUTHOR, else the repository's
 * user.name/user.email, else git's (read with one git process, the last value set winning, as
 * `git config --get` answers), else the login name at this host. git reads a temporary HOME here.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/index.js';
import { identity } from '../../src/core/identity.js';
import { tempDir } from './helpers.js';

const saved: Record<string, string | undefined> = {};
const VARS = ['HOME', 'XDG_CONFIG_HOME', 'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_GLOBAL', 'STRATA_AUTHOR'];
let home: string;
let repo: Repository;

beforeEach(() => {
  for (const k of VARS) saved[k] = process.env[k];
  home = tempDir('strata-identity-home-');
  process.env.HOME = home;
  process.env.XDG_CONFIG_HOME = join(home, '.config');
  process.env.GIT_CONFIG_NOSYSTEM = '1';
  delete process.env.GIT_CONFIG_GLOBAL;
  delete process.env.STRATA_AUTHOR;
  repo = Repository.init(tempDir('strata-identity-repo-'));
});
afterEach(() => {
  repo.close();
  for (const k of VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(home, { recursive: true, force: true });
});

const gitconfig = (text: string): void => writeFileSync(join(home, '.gitconfig'), text);

describe('identity', () => {
  it("takes git's user.name and user.email, the last value set of each", () => {
    gitconfig(
      '[user]\n\tname = First Name\n\temail = first@example.org\n[core]\n\tautocrlf = false\n[user]\n\tname = Ada Lovelace\n',
    );
    expect(identity(repo)).toEqual({ name: 'Ada Lovelace', email: 'first@example.org' });
  });

  it("the repository's config over git's, STRATA_AUTHOR over both", () => {
    gitconfig('[user]\n\tname = Git Name\n\temail = git@example.org\n');
    repo.db.setConfig('user.email', 'repo@example.org');
    expect(identity(repo)).toEqual({ name: 'Git Name', email: 'repo@example.org' });
    process.env.STRATA_AUTHOR = 'Env Author <env@example.org>';
    expect(identity(repo)).toEqual({ name: 'Env Author', email: 'env@example.org' });
  });

  it('falls back to the login name at this host for what git does not set (an empty value is unset)', () => {
    gitconfig('[user]\n\tname = Only Name\n\temail =\n');
    const login = userInfo().username;
    expect(identity(repo)).toEqual({ name: 'Only Name', email: `${login}@${hostname()}` });
    gitconfig('');
    expect(identity(repo)).toEqual({ name: login, email: `${login}@${hostname()}` });
  });
});
