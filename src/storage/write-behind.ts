// Defers writes that must not slow the request that caused them (a phone's fetch
// statistics, the request log): they are batched into one transaction every
// `intervalMs` and flushed on shutdown. Writes for the same key coalesce, so a phone
// that fetches ten files costs one UPDATE.
import type { Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Tables } from './tables.js';

export type Write = (trx: Transaction<Tables>) => Promise<unknown>;

export class WriteBehind {
  private keyed = new Map<string, Write>();
  private outside = new Map<string, () => Promise<void>>();
  private appended: Write[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly afterFlush: (() => Promise<void>)[] = [];

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Schedules `write`; a later write with the same key replaces it. */
  put(key: string, write: Write): void {
    this.keyed.set(key, write);
    this.schedule();
  }

  /**
   * Like `put`, for a write that goes its own way (another connection, another thread):
   * run in the same flush, after the transaction, and waited for by `flush()`.
   */
  putOutside(key: string, write: () => Promise<void>): void {
    this.outside.set(key, write);
    this.schedule();
  }

  append(write: Write): void {
    this.appended.push(write);
    this.schedule();
  }

  /** Runs after each flush that wrote something (e.g. pruning). */
  onFlushed(task: () => Promise<void>): void {
    this.afterFlush.push(task);
  }

  /** Writes everything pending; resolves once it is durable. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  private schedule(): void {
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  private async writePending(): Promise<void> {
    const writes = [...this.appended, ...this.keyed.values()];
    const outside = [...this.outside.values()];
    this.appended = [];
    this.keyed = new Map();
    this.outside = new Map();
    if (writes.length === 0 && outside.length === 0) return;
    try {
      if (writes.length) {
        await this.db.transaction().execute(async (trx) => {
          for (const w of writes) await w(trx);
        });
      }
      for (const w of outside) await w();
      for (const task of this.afterFlush) await task();
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
