// Admin accounts for the API and the web admin: no default account exists; the first
// is made with `pbx admin create`. Logging in gives a session token (an API token that
// expires). Repeated failures lock the account for a while.
import type { Db } from '../storage/database.js';
import { isUniqueViolation, nowIso } from '../storage/database.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { newSipSecret } from '../security/tokens.js';
import { PbxError } from '../pbx/errors.js';
import type { Role, TokenStore } from './tokens.js';

export const MAX_FAILED_LOGINS = 5;
export const LOCK_MINUTES = 15;
export const SESSION_HOURS = 12;

export type LoginResult =
  | { ok: true; token: string; role: Role; expires_at: string }
  | { ok: false; reason: 'invalid' | 'locked'; locked_until?: string };

export class AdminStore {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenStore,
  ) {}

  /** Creates an admin; returns the password (generated when not given). */
  async create(username: string, role: Role, password?: string): Promise<string> {
    if (!/^[a-zA-Z0-9._@-]{2,64}$/.test(username)) throw new PbxError('invalid', 'username: 2 to 64 letters, digits, . _ @ -', 'username');
    if (password !== undefined && password.length < 12) throw new PbxError('invalid', 'password must be at least 12 characters', 'password');
    const exists = await this.db.selectFrom('admins').select('username').where('username', '=', username).executeTakeFirst();
    if (exists) throw new PbxError('conflict', `Admin ${username} already exists`, 'username');
    const pw = password ?? newSipSecret(20);
    await this.db
      .insertInto('admins')
      .values({ username, password_hash: await hashPassword(pw), role, created_at: nowIso(), failed_logins: 0, locked_until: null, last_login_at: null })
      .execute()
      .catch((err: unknown) => {
        // Created meanwhile by another process (hashing takes a moment).
        if (isUniqueViolation(err)) throw new PbxError('conflict', `Admin ${username} already exists`, 'username');
        throw err;
      });
    return pw;
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('admins').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async list() {
    return this.db.selectFrom('admins').select(['username', 'role', 'created_at', 'last_login_at', 'locked_until']).orderBy('username').execute();
  }

  async login(username: string, password: string): Promise<LoginResult> {
    const row = await this.db.selectFrom('admins').selectAll().where('username', '=', username).executeTakeFirst();
    const now = nowIso();
    if (row?.locked_until && row.locked_until > now) return { ok: false, reason: 'locked', locked_until: row.locked_until };
    // Hash even for unknown users, so timing does not tell which usernames exist.
    const good = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
    if (!row || !good) {
      if (row) {
        const failed = row.failed_logins + 1;
        const locked = failed >= MAX_FAILED_LOGINS ? new Date(Date.now() + LOCK_MINUTES * 60_000).toISOString() : null;
        await this.db
          .updateTable('admins')
          .set({ failed_logins: locked ? 0 : failed, locked_until: locked })
          .where('username', '=', username)
          .execute();
        if (locked) return { ok: false, reason: 'locked', locked_until: locked };
      }
      return { ok: false, reason: 'invalid' };
    }
    await this.db.updateTable('admins').set({ failed_logins: 0, locked_until: null, last_login_at: now }).where('username', '=', username).execute();
    const expires = new Date(Date.now() + SESSION_HOURS * 3600_000).toISOString();
    const { token } = await this.tokens.create(`session:${username}`, row.role as Role, expires);
    return { ok: true, token, role: row.role as Role, expires_at: expires };
  }
}

// A real scrypt hash of a random password, used to spend the same time on unknown users.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
