// Notices writes made by another process (the `pbx` CLI beside a running server, or
// another pbx node on the same PostgreSQL database) so the server's in-memory copies
// never serve stale extensions or devices. The database says when something may have
// changed (`OpenedDatabase.watch`: SQLite's data_version, PostgreSQL's LISTEN/NOTIFY);
// this class turns those signals into reloads, one at a time and at most one per
// `minIntervalMs`, and never loses a signal that arrives during a reload.
import type { OpenedDatabase } from './database.js';

export interface ExternalChangesOptions {
  minIntervalMs?: number;
  onError?: (err: Error) => void;
}

export class ExternalChanges {
  private readonly unwatch: (() => void) | undefined;
  private pending = false;
  /** Tables changed since the last reload; null: any may have. */
  private tables: Set<string> | null = new Set();
  private busy = false;
  private stopped = false;
  private lastRun = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    database: OpenedDatabase,
    /** Reloads what changed: these tables, or everything (null). */
    private readonly onChange: (tables: ReadonlySet<string> | null) => Promise<void>,
    private readonly opts: ExternalChangesOptions = {},
  ) {
    this.unwatch = database.watch?.((table) => {
      if (table === null) this.tables = null;
      else this.tables?.add(table);
      this.pending = true;
      this.kick();
    });
  }

  private kick(): void {
    if (this.stopped || this.busy || this.timer || !this.pending) return;
    const wait = Math.max(0, this.lastRun + (this.opts.minIntervalMs ?? 1000) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pending = false;
      this.busy = true;
      this.lastRun = Date.now();
      const tables = this.tables;
      this.tables = new Set();
      this.onChange(tables)
        .catch((err: Error) => {
          // Try again later (the database may be away for a moment), not in a tight loop.
          if (tables === null) this.tables = null;
          else for (const t of tables) this.tables?.add(t);
          this.pending = true;
          this.lastRun = Date.now() + 4000;
          this.opts.onError?.(err);
        })
        .finally(() => {
          this.busy = false;
          this.kick();
        });
    }, wait);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unwatch?.();
  }
}
