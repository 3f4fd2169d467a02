// The settings of every connection to the SQLite file: the main one and the writer thread's.
import type { Database } from 'better-sqlite3';

/**
 * Each connection's page cache, in KiB. better-sqlite3 builds SQLite with 16 MB per
 * connection (SQLITE_DEFAULT_CACHE_SIZE=-16000; SQLite's own default is 2 MB). The server
 * reads its tables into memory once, at start, and writes in batches from one thread, so a
 * big cache buys little: the pages stay in the kernel's file cache anyway. With 100,000
 * bindings the two connections' caches held ~30 MB of the server's resident memory, and
 * the reload's cache, filled among short-lived allocations, left malloc's heap holed for
 * good (docs/PERFORMANCE.md).
 */
export const SQLITE_CACHE_KIB = 2048;

export function applySqlitePragmas(db: Database, busyTimeoutMs: number): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
}
