// Notices writes made by another process (the `pbx` CLI beside a running server, or
// another pbx node on the same PostgreSQL database) so the server's in-memory copies
// never serve stale extensions or devices. The database says when something may have
// changed (`OpenedDatabase.watch`: SQLite's data_version, PostgreSQL's LISTEN/NOTIFY);
// this class turns those signals into reloads, one at a time and at most one per
// `minIntervalMs`, and never loses a signal that arrives during a reload. When the
// writer said which rows of a table changed, the reload hears which (`ChangeSet.keys`).
import type { OpenedDatabase } from './database.js';

/** What changed since the last reload. */
export class ChangeSet {
  /** Any table may have changed (SQLite's data_version, a new LISTEN). */
  private everything = false;
  private readonly whole = new Set<string>();
  private readonly someRows = new Map<string, Set<string>>();

  add(table: string | null, keys?: Iterable<string>): void {
    if (table === null) this.everything = true;
    else if (!keys) {
      this.whole.add(table);
      this.someRows.delete(table);
    } else if (!this.whole.has(table)) {
      let set = this.someRows.get(table);
      if (!set) this.someRows.set(table, (set = new Set()));
      for (const k of keys) set.add(k);
    }
  }

  merge(other: ChangeSet): void {
    if (other.everything) this.everything = true;
    for (const t of other.whole) this.add(t);
    for (const [t, keys] of other.someRows) this.add(t, keys);
  }

  /** Rows of this table may have changed. */
  has(table: string): boolean {
    return this.everything || this.whole.has(table) || this.someRows.has(table);
  }

  /** The keys of the table's changed rows, or undefined when any row may have changed. */
  keys(table: string): ReadonlySet<string> | undefined {
    return this.everything || this.whole.has(table) ? undefined : this.someRows.get(table);
  }

  /** Only these tables changed (an unknown one, or everything, answers false). */
  onlyAmong(tables: readonly string[]): boolean {
    if (this.everything) return false;
    for (const t of this.whole) if (!tables.includes(t)) return false;
    for (const t of this.someRows.keys()) if (!tables.includes(t)) return false;
    return true;
  }
}

export interface ExternalChangesOptions {
  minIntervalMs?: number;
  onError?: (err: Error) => void;
}

export class ExternalChanges {
  private readonly unwatch: (() => void) | undefined;
  private pending = false;
  private changes = new ChangeSet();
  private busy = false;
  private stopped = false;
  private lastRun = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    database: OpenedDatabase,
    /** Reloads what changed. */
    private readonly onChange: (changes: ChangeSet) => Promise<void>,
    private readonly opts: ExternalChangesOptions = {},
  ) {
    this.unwatch = database.watch?.((table, keys) => {
      this.changes.add(table, keys);
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
      const changes = this.changes;
      this.changes = new ChangeSet();
      this.onChange(changes)
        .catch((err: Error) => {
          // Try again later (the database may be away for a moment), not in a tight loop.
          changes.merge(this.changes);
          this.changes = changes;
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
