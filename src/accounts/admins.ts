// Admin accounts for the API and the web admin: no default account exists; the first
// is made with `pbx admin create`. Logging in gives a session token (an API token that
// expires). Repeated failures lock the account for a while.
import type { Db } from '../storage/database.js';
import { isUniqueViolation } from '../storage/database.js';
import { nowIso } from '../util/clock.js';
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

  /**
   * Every attempt is counted before its password is checked, in one statement, so that
   * parallel guesses cannot all be checked against a count none of them has raised yet:
   * at most MAX_FAILED_LOGINS attempts are checked per lock period, the rest are refused
   * unchecked, and a right password that arrives once the account is locked is refused too.
   */
  async login(username: string, password: string): Promise<LoginResult> {
    const now = nowIso();
    const counted = await this.db
      .updateTable('admins')
      .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1) }))
      .where('username', '=', username)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .returning(['failed_logins', 'password_hash', 'role'])
      .executeTakeFirst();
    if (!counted) {
      const row = await this.db.selectFrom('admins').select('locked_until').where('username', '=', username).executeTakeFirst();
      if (row?.locked_until && row.locked_until > now) return { ok: false, reason: 'locked', locked_until: row.locked_until };
      // Hash even for unknown users, so timing does not tell which usernames exist.
      await verifyPassword(password, DUMMY_HASH);
      return { ok: false, reason: 'invalid' };
    }
    const attempt = counted.failed_logins;
    if (attempt > MAX_FAILED_LOGINS) return this.lock(username);
    const good = await verifyPassword(password, counted.password_hash);
    if (!good) return attempt >= MAX_FAILED_LOGINS ? this.lock(username) : { ok: false, reason: 'invalid' };
    // Only while not locked: a lock set by parallel attempts meanwhile wins.
    const admitted = await this.db
      .updateTable('admins')
      .set({ failed_logins: 0, locked_until: null, last_login_at: nowIso() })
      .where('username', '=', username)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', nowIso())]))
      .returning('username')
      .executeTakeFirst();
    if (!admitted) {
      const row = await this.db.selectFrom('admins').select('locked_until').where('username', '=', username).executeTakeFirst();
      return { ok: false, reason: 'locked', ...(row?.locked_until ? { locked_until: row.locked_until } : {}) };
    }
    const expires = new Date(Date.now() + SESSION_HOURS * 3600_000).toISOString();
    const { token } = await this.tokens.create(`session:${username}`, counted.role as Role, expires);
    return { ok: true, token, role: counted.role as Role, expires_at: expires };
  }

  /** Locks the account (once: a lock already running is kept, not extended) and says until when. */
  private async lock(username: string): Promise<LoginResult> {
    const now = nowIso();
    const until = new Date(Date.now() + LOCK_MINUTES * 60_000).toISOString();
    await this.db
      .updateTable('admins')
      .set({ failed_logins: 0, locked_until: until })
      .where('username', '=', username)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .execute();
    const row = await this.db.selectFrom('admins').select('locked_until').where('username', '=', username).executeTakeFirst();
    return { ok: false, reason: 'locked', locked_until: row?.locked_until ?? until };
  }
}

// A real scrypt hash of a random password, used to spend the same time on unknown users.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
