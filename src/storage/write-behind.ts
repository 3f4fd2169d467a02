// Defers writes that must not slow the request that caused them (a phone's fetch
// statistics, the request log): they are batched into one transaction every
// `intervalMs` and flushed on shutdown. Writes for the same key coalesce, so a phone
// that fetches ten files costs one UPDATE. The writes that come by the thousand (bindings,
// dialogs, CDRs) are given as statements (`putStatements`): on SQLite they run on the
// writer thread (`offThread`, storage/sqlite-writer.ts), so the event loop never waits
// on them; elsewhere in the batch's transaction. A batch that finds the database
// unreachable (PostgreSQL restarting, the network to it down) is kept and tried again,
// a little later each time, for up to RETRY_FOR_MS: a restart of the database loses no
// write; a later write of the same key still wins.
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

/** How long writes are kept while the database is unreachable, and the longest wait between tries. */
const RETRY_FOR_MS = 120_000;
const RETRY_MAX_WAIT_MS = 5_000;

export class WriteBehind {
  private keyed = new Map<string, Write>();
  private statements = new Map<string, StatementsWrite>();
  private timer: NodeJS.Timeout | undefined;
  /** Since when the database has been unreachable (0: it is not), and the wait before the next try. */
  private unreachableSince = 0;
  private retryMs = 0;
  /**
   * Told once when the database is found unreachable (`err`; `held`: writes kept), and once
   * when a batch gets through again (`err` null, `keptMs`: how long they waited). Set by the
   * composition root (its log).
   */
  onUnreachable: ((err: Error | null, held: number, keptMs: number) => void) | undefined;
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
      this.timer = setTimeout(() => void this.flush(), this.retryMs || this.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Puts a failed batch back, behind what was written meanwhile (a newer write of a key
   * wins). Its statements are kept as built, to run first next time: a builder takes its
   * rows as it builds (CDRs, the request log, dialogs), so building it again would write
   * only the rows that came since.
   */
  private keep(keyed: Map<string, Write>, built: StatementRuns[]): void {
    for (const [k, w] of keyed) if (!this.keyed.has(k)) this.keyed.set(k, w);
    this.held = built;
    this.schedule();
  }

  /** The statements of a batch that found the database unreachable (keep). */
  private held: StatementRuns[] = [];

  private async writePending(): Promise<void> {
    const keyed = this.keyed;
    const stated = this.statements;
    this.keyed = new Map();
    this.statements = new Map();
    if (keyed.size === 0 && stated.size === 0 && this.held.length === 0) return;
    const writes = [...keyed.values()];
    let written = false;
    let batch = this.held;
    this.held = [];
    try {
      batch = batch.concat([...stated.values()].flatMap((build) => build()));
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
      written = true;
      if (this.offThread && batch.length) await this.offThread(batch);
      for (const task of this.afterFlush) await task();
      if (this.unreachableSince) {
        const keptMs = Date.now() - this.unreachableSince;
        this.unreachableSince = 0;
        this.retryMs = 0;
        this.onUnreachable?.(null, 0, keptMs);
      }
    } catch (err) {
      const now = Date.now();
      if (!written && isUnreachable(err) && (!this.unreachableSince || now - this.unreachableSince < RETRY_FOR_MS)) {
        this.retryMs = Math.min(RETRY_MAX_WAIT_MS, Math.max(this.intervalMs, this.retryMs * 2));
        this.keep(keyed, batch);
        if (!this.unreachableSince) {
          this.unreachableSince = now;
          this.onUnreachable?.(err as Error, this.keyed.size + this.held.length, 0);
        }
        return;
      }
      this.unreachableSince = 0;
      this.retryMs = 0;
      this.onError(err as Error);
    }
  }
}

/** PostgreSQL's connection-class errors (SQLSTATE 08…, 57P01–57P03) and the socket's own: the database is not there, the write is fine. */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  return typeof e?.message === 'string' && /Connection terminated|connection (?:is )?(?:closed|ended)|Client has encountered a connection error/i.test(e.message);
}
