// API tokens: created by `pbx token create`, stored only as SHA-256 hashes, revocable.
// Verified against the database on each call (an indexed lookup), so a token made by
// the CLI while the server runs works at once.
import type { Db } from '../storage/database.js';
import { nowIso } from '../util/clock.js';
import { hashToken, newApiToken, TOKEN_PREFIX } from '../security/tokens.js';
import { PbxError } from '../pbx/errors.js';

export type Role = 'admin' | 'read-only';

export interface TokenInfo {
  id: number;
  name: string;
  role: Role;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export class TokenStore {
  constructor(private readonly db: Db) {}

  async create(name: string, role: Role = 'admin', expiresAt: string | null = null): Promise<{ token: string; info: TokenInfo }> {
    if (!name.trim()) throw new PbxError('invalid', 'token name must not be empty', 'name');
    const token = newApiToken();
    const created_at = nowIso();
    const row = await this.db
      .insertInto('api_tokens')
      .values({ name: name.trim(), token_hash: hashToken(token), role, created_at, expires_at: expiresAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return {
      token,
      info: { id: Number(row.id), name: name.trim(), role, created_at, last_used_at: null, expires_at: expiresAt, revoked_at: null },
    };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'role', 'created_at', 'last_used_at', 'expires_at', 'revoked_at'])
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ ...r, id: Number(r.id), role: r.role as Role }));
  }

  /** The name and expiry of one token (what `GET /api/auth/me` shows), or undefined. */
  async describe(id: number): Promise<{ name: string; expires_at: string | null } | undefined> {
    return this.db.selectFrom('api_tokens').select(['name', 'expires_at']).where('id', '=', id).executeTakeFirst();
  }

  async revoke(id: number): Promise<void> {
    const res = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: nowIso() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw new PbxError('not_found', `No active token with id ${id}`, 'id');
  }

  /** The token's role when it is valid now; undefined otherwise. */
  async verify(token: string): Promise<{ id: number; role: Role } | undefined> {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const row = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'role', 'expires_at', 'revoked_at', 'last_used_at'])
      .where('token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!row || row.revoked_at) return undefined;
    if (row.expires_at && row.expires_at <= nowIso()) return undefined;
    return { id: Number(row.id), role: row.role as Role };
  }
}
