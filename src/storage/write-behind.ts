// Defers writes that must not slow the request that caused them (a phone's fetch
// statistics, the request log): they are batched into one transaction every
// `intervalMs` and flushed on shutdown. Writes for the same key coalesce, so a phone
// that fetches ten files costs one UPDATE. The writes that come by the thousand (bindings,
// dialogs, CDRs) are given as statements (`putStatements`): on SQLite they run on the
// writer thread (`offThread`, storage/sqlite-writer.ts), so the event loop never waits
// on them; elsewhere in the batch's transaction.
import { CompiledQuery, type Transaction } from 'kysely';
import type { Db } from './database.js';
import type { StatementRuns } from './sqlite-writer.js';
import type { Tables } from './tables.js';

export type Write = (trx: Transaction<Tables>) => Promise<unknown>;

/** Statements compiled for this database's dialect, and the parameters of each run. */
export type StatementsWrite = () => StatementRuns[];

/** One compiled query (`query.compile()`) as statement runs. */
export function runsOf(q: { sql: string; parameters: readonly unknown[] }): StatementRuns {
  return { sql: q.sql, runs: [q.parameters] };
}

export class WriteBehind {
  private keyed = new Map<string, Write>();
  private statements = new Map<string, StatementsWrite>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly afterFlush: (() => Promise<void>)[] = [];

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
    /** Runs statement writes elsewhere (SQLite's writer thread), after the batch's transaction. */
    private readonly offThread?: (batch: StatementRuns[]) => Promise<void>,
  ) {}

  /** Statement writes run off the event loop's connection (the caller may prefer one statement per row then). */
  get statementsOffThread(): boolean {
    return this.offThread !== undefined;
  }

  /** Schedules `write`; a later write with the same key replaces it. */
  put(key: string, write: Write): void {
    this.keyed.set(key, write);
    this.schedule();
  }

  /**
   * Like `put`, for a write given as statements: run in the same flush (on the writer
   * thread when there is one, else in the transaction), and waited for by `flush()`.
   */
  putStatements(key: string, write: StatementsWrite): void {
    this.statements.set(key, write);
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
    const writes = [...this.keyed.values()];
    const statements = [...this.statements.values()];
    this.keyed = new Map();
    this.statements = new Map();
    if (writes.length === 0 && statements.length === 0) return;
    try {
      const batch = statements.flatMap((build) => build());
      if (!this.offThread) {
        writes.push(async (trx) => {
          for (const { sql, runs } of batch) for (const params of runs) await trx.executeQuery(CompiledQuery.raw(sql, [...params]));
        });
      }
      if (writes.length) {
        await this.db.transaction().execute(async (trx) => {
          for (const w of writes) await w(trx);
        });
      }
      if (this.offThread && batch.length) await this.offThread(batch);
      for (const task of this.afterFlush) await task();
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
