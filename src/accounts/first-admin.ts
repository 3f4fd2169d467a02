// The first admin account without a shell: when no admin exists, the server writes a
// one-time setup token to a file only its owner can read (never to the log), and the
// web admin's first page asks for it with the new account's name and password. Once
// any admin exists (made here or with `pbx admin create`), the token is void.
import { randomBytes } from 'node:crypto';
import { sameSecret } from '../security/compare.js';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PbxError } from '../pbx/errors.js';
import type { AdminStore, LoginResult } from './admins.js';

export class FirstAdminSetup {
  private token: string | undefined;

  constructor(
    private readonly admins: AdminStore,
    private readonly file: string,
  ) {}

  /** True while no admin account exists. */
  async needed(): Promise<boolean> {
    return (await this.admins.count()) === 0;
  }

  /** Writes a fresh token to the file when no admin exists and returns its path; else removes a stale file. */
  async prepare(): Promise<string | null> {
    if (!(await this.needed())) {
      this.forget();
      return null;
    }
    const token = randomBytes(24).toString('base64url');
    mkdirSync(dirname(this.file), { recursive: true });
    rmSync(this.file, { force: true });
    writeFileSync(this.file, token + '\n', { mode: 0o600, flag: 'wx' });
    this.token = token;
    return this.file;
  }

  /** Creates the first admin when the token matches; answers its session like a login. */
  async complete(token: string, username: string, password: string): Promise<LoginResult> {
    if (!(await this.needed())) throw new PbxError('conflict', 'An admin account exists already: log in instead');
    if (this.token === undefined || !sameSecret(token, this.token)) {
      throw new PbxError('invalid', 'The setup token is wrong; it is in the file the server log names', 'token');
    }
    if (password.length < 12) throw new PbxError('invalid', `The password needs at least 12 characters (this one has ${password.length})`, 'password');
    await this.admins.create(username, 'admin', password);
    this.forget();
    return this.admins.login(username, password);
  }

  private forget(): void {
    this.token = undefined;
    if (existsSync(this.file)) rmSync(this.file, { force: true });
  }
}
