// Opens the database named by the config and brings its schema up to date.
// SQLite runs in WAL mode with synchronous=FULL: once a write's promise resolves it
// survives kill -9 and power loss, which is what an API answer promises. PostgreSQL
// commits durably by default; several pbx processes may share one database.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { PbxConfig } from '../config/schema.js';
import { migrations } from './migrations/index.js';
import { CHANGES_CHANNEL, changePayloads, listenForChanges } from './pg-changes.js';
import { otherProcessChanges, ownCountingTrigger } from './sqlite-changes.js';
import { SqliteWriter, type StatementRuns } from './sqlite-writer.js';
import { applySqlitePragmas } from './sqlite-pragmas.js';
import type { Tables } from './tables.js';

export type Db = Kysely<Tables>;
export type DatabaseType = PbxConfig['database']['type'];

export interface OpenedDatabase {
  db: Db;
  type: DatabaseType;
  /** Human description for logs, without credentials. */
  describe: string;
  /**
   * Calls `signal` whenever another process (the CLI, another pbx node) may have
   * committed changes to a table the server keeps in memory, with that table's name, or
   * with null when it cannot say which; returns a function that stops.
   * SQLite: its data_version and change counter, polled every second (null; sqlite-changes.ts).
   * PostgreSQL: LISTEN/NOTIFY.
   */
  watch?: (signal: (table: string | null, keys?: readonly string[]) => void) => () => void;
  /**
   * Tells the other processes' `watch` that these rows of `table` changed, at the commit
   * of `db` (a transaction), so they reload those rows only. For tables without a
   * notifying trigger (registrations). PostgreSQL only: SQLite's data_version already says
   * that something changed, and several nodes need PostgreSQL.
   */
  announce?: (db: Db, table: string, keys: Iterable<string>) => Promise<void>;
  /**
   * SQLite: runs a batch of compiled statements in one transaction on a connection of
   * its own thread (`SqliteWriter`), so the event loop never waits on that write (the
   * write-behind's statement writes go there). Absent on PostgreSQL, whose driver never
   * blocks the loop.
   */
  writeOffThread?: (batch: StatementRuns[]) => Promise<void>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Errors of idle PostgreSQL connections and of the change listener (the server keeps going). */
  onError?: (err: Error) => void;
}

// pg returns int8 (count(*), bigint ids) and numeric as strings. Every such value here is
// far below 2^53, and SQLite returns numbers: make PostgreSQL do the same.
const INT8 = 20;
const NUMERIC = 1700;
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return Number;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export async function openDatabase(cfg: PbxConfig['database'], opts: OpenOptions = {}): Promise<OpenedDatabase> {
  const onError = opts.onError ?? (() => {});
  let opened: OpenedDatabase;
  if (cfg.type === 'sqlite') {
    mkdirSync(dirname(cfg.path), { recursive: true, mode: 0o750 });
    const created = !existsSync(cfg.path);
    const native = new SqliteDatabase(cfg.path);
    // Sealed secrets, password and token hashes: only the server's user reads the file
    // (SQLite gives its -wal and -shm files the same mode).
    if (created) chmodSync(cfg.path, 0o600);
    applySqlitePragmas(native, 5000);
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: native }) });
    const writer = new SqliteWriter(cfg.path);
    opened = {
      db,
      type: 'sqlite',
      describe: `sqlite:${cfg.path}`,
      watch(signal) {
        // Prepared here: the counter's table and triggers exist once the migrations ran.
        const counter = native.prepare('SELECT n FROM pbx_change_counter WHERE id = 1').pluck();
        native.exec('CREATE TEMP TABLE IF NOT EXISTS own_change_counter (n INTEGER NOT NULL); DELETE FROM own_change_counter; INSERT INTO own_change_counter (n) VALUES (0)');
        const triggers = native.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%pbx_change_counter%'").all() as { name: string; sql: string }[];
        for (const t of triggers) {
          native.exec(`DROP TRIGGER IF EXISTS temp."own_${t.name}"`);
          native.exec(ownCountingTrigger(t.name, t.sql));
        }
        const own = native.prepare('SELECT n FROM temp.own_change_counter').pluck();
        const changed = otherProcessChanges({ counter: () => counter.get() as number, own: () => own.get() as number });
        const timer = setInterval(() => {
          if (changed()) signal(null);
        }, 1000);
        timer.unref();
        return () => clearInterval(timer);
      },
      writeOffThread: (batch) => writer.run(batch),
      async close() {
        await writer.close();
        await db.destroy();
      },
    };
  } else {
    const pool = new pg.Pool({ connectionString: cfg.url, max: 10, types: pgTypes });
    // An idle connection that breaks (server restart, network) must not end the process:
    // the pool drops it and opens a new one for the next query.
    pool.on('error', (err) => onError(err));
    const ownBackends = new Set<number>();
    // Our own connections' changes are in memory already: the listener skips their NOTIFYs.
    pool.on('connect', (client) => {
      const pid = backendPid(client);
      if (pid !== undefined) ownBackends.add(pid);
      // The pool listens on idle connections only: one cut while in use (the database
      // stops mid-transaction) emits its error with no listener, which ends the process.
      // The query it carried fails on its own (the write-behind keeps its writes).
      client.on('error', (err) => onError(err));
    });
    pool.on('remove', (client) => {
      const pid = backendPid(client);
      if (pid !== undefined) ownBackends.delete(pid);
    });
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    const listeners = new Set<() => Promise<void>>();
    opened = {
      db,
      type: 'postgresql',
      describe: describePostgres(cfg.url),
      watch(signal) {
        const stop = listenForChanges({
          client: () => new pg.Client({ connectionString: cfg.url, types: pgTypes }),
          ownBackends,
          signal,
          onError,
        });
        listeners.add(stop);
        return () => {
          listeners.delete(stop);
          void stop();
        };
      },
      async announce(trx, table, keys) {
        for (const payload of changePayloads(table, keys)) await sql`SELECT pg_notify(${CHANGES_CHANNEL}, ${payload})`.execute(trx);
      },
      async close() {
        await Promise.all([...listeners].map((stop) => stop()));
        await db.destroy();
      },
    };
  }
  try {
    await migrate(opened.db, cfg.type, opened.describe);
  } catch (err) {
    await opened.close().catch(() => {});
    throw err;
  }
  return opened;
}

/** The server-side process id of a pg connection (set once connected; missing from @types/pg). */
const backendPid = (client: object): number | undefined => (client as { processID?: number | null }).processID ?? undefined;

/** postgresql://host:port/db, without user or password; also for socket URLs (postgres:///db?host=/run/postgresql). */
export function describePostgres(url: string): string {
  const m = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?/i.exec(url);
  if (!m) return 'postgresql';
  const socket = new URLSearchParams(m[3] ?? '').get('host');
  const host = m[1] || (socket ? `unix:${socket}` : 'localhost');
  return `postgresql://${host}${m[2] ?? ''}`;
}

async function migrate(db: Db, dialect: DatabaseType, describe: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  // Unordered: a migration merged later with a lower number (0007 after 0008) still runs.
  const { error, results } = await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    // No migration ran: the database could not be reached (address, password, rights).
    if (!failed) throw new Error(`Cannot open the database ${describe}: ${(error as Error).message}`);
    throw new Error(`Database migration ${failed} failed: ${(error as Error).message}`);
  }
}

/**
 * A primary-key or unique constraint refused the row: another process (a second node,
 * the CLI) inserted it first, after this one's in-memory check.
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
