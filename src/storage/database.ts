// Opens the database named by the config and brings its schema up to date.
// SQLite runs in WAL mode with synchronous=FULL: once a write's promise resolves it
// survives kill -9 and power loss, which is what an API answer promises.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { PbxConfig } from '../config/schema.js';
import { migrations } from './migrations/index.js';
import type { Tables } from './tables.js';

export type Db = Kysely<Tables>;

export interface OpenedDatabase {
  db: Db;
  /** Human description for logs, without credentials. */
  describe: string;
  /** Changes when another connection commits (SQLite); undefined where not supported. */
  dataVersion?: () => number;
  close(): Promise<void>;
}

export async function openDatabase(cfg: PbxConfig['database']): Promise<OpenedDatabase> {
  let db: Db;
  let describe: string;
  let dataVersion: (() => number) | undefined;
  if (cfg.type === 'sqlite') {
    mkdirSync(dirname(cfg.path), { recursive: true });
    const native = new SqliteDatabase(cfg.path);
    native.pragma('journal_mode = WAL');
    native.pragma('synchronous = FULL');
    native.pragma('foreign_keys = ON');
    native.pragma('busy_timeout = 5000');
    db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: native }) });
    describe = `sqlite:${cfg.path}`;
    const version = native.prepare('PRAGMA data_version').pluck();
    dataVersion = () => version.get() as number;
  } else {
    const pool = new pg.Pool({ connectionString: cfg.url, max: 10 });
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    const u = new URL(cfg.url);
    describe = `postgresql://${u.host}${u.pathname}`;
  }
  await migrate(db, cfg.type);
  return { db, describe, dataVersion, close: () => db.destroy() };
}

async function migrate(db: Db, dialect: PbxConfig['database']['type']): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`Database migration ${failed} failed: ${(error as Error).message}`);
  }
}

export const nowIso = (): string => new Date().toISOString();
