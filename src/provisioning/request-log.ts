// Every provisioning request, good or bad, persisted for the admin (API, web UI,
// adoption of unknown phones). Rows are written behind in batches and the table is
// pruned to `maxEntries`, so a scanner cannot grow the database without bound.
import { sql } from 'kysely';
import type { Db } from '../storage/database.js';
import { runsOf, type WriteBehind } from '../storage/write-behind.js';

export interface RequestLogEntry {
  at: string;
  ip: string;
  method: string;
  path: string;
  mac: string | null;
  user_agent: string | null;
  status: number;
  outcome: string;
  vendor: string | null;
  model: string | null;
  detail: string | null;
}

/** Every column, in the order of SAMPLE's keys: a compiled single-row INSERT's parameters. */
const SAMPLE: RequestLogEntry = { at: '', ip: '', method: '', path: '', mac: null, user_agent: null, status: 0, outcome: '', vendor: null, model: null, detail: null };
const COLUMNS = Object.keys(SAMPLE) as (keyof RequestLogEntry)[];

export interface RequestLogQuery {
  limit?: number;
  mac?: string;
  outcome?: string;
}

export class RequestLog {
  private sincePrune = 0;
  private pending: RequestLogEntry[] = [];

  constructor(
    private readonly db: Db,
    private readonly writeBehind: WriteBehind,
    private readonly maxEntries: () => number,
  ) {
    writeBehind.onFlushed(() => this.pruneIfDue());
  }

  add(entry: RequestLogEntry): void {
    this.sincePrune++;
    this.pending.push(entry);
    // One job per flush inserts everything pending, 1000 rows a statement (11 columns:
    // under SQLite's 32766 bound values); on SQLite's writer thread, off the event loop.
    this.writeBehind.putStatements('provisioning-requests', () => {
      const rows = this.pending;
      this.pending = [];
      // On SQLite's writer thread one prepared single-row INSERT runs per row: building a
      // 1000-row statement with Kysely for every flush was 3 % of serving phone files.
      if (this.writeBehind.statementsOffThread) {
        this.insertOne ??= this.db.insertInto('provisioning_requests').values(SAMPLE).compile().sql;
        return [{ sql: this.insertOne, runs: rows.map((r) => COLUMNS.map((c) => r[c])) }];
      }
      const statements = [];
      for (let i = 0; i < rows.length; i += 1000) statements.push(runsOf(this.db.insertInto('provisioning_requests').values(rows.slice(i, i + 1000)).compile()));
      return statements;
    });
  }

  private insertOne: string | undefined;

  /** Newest first. Pending entries are flushed first so a read sees every request. */
  /**
   * Requests per hour (UTC, `YYYY-MM-DDTHH`) and outcome since `fromHour`, for the
   * dashboard's activity chart; pending writes land first.
   */
  async perHour(fromHour: string): Promise<{ hour: string; outcome: string; n: number }[]> {
    await this.writeBehind.flush();
    const hour = sql<string>`substr(${sql.ref('at')}, 1, 13)`;
    const rows = await this.db
      .selectFrom('provisioning_requests')
      .select([hour.as('hour'), 'outcome', sql<number>`count(*)`.as('n')])
      .where('at', '>=', `${fromHour}:00:00.000Z`)
      .groupBy([hour, 'outcome'])
      .execute();
    return rows.map((r) => ({ hour: r.hour, outcome: r.outcome, n: Number(r.n) }));
  }

  async list(q: RequestLogQuery = {}): Promise<(RequestLogEntry & { id: number })[]> {
    await this.writeBehind.flush();
    let query = this.db.selectFrom('provisioning_requests').selectAll().orderBy('id', 'desc').limit(Math.min(q.limit ?? 100, 1000));
    if (q.mac) query = query.where('mac', '=', q.mac);
    if (q.outcome) query = query.where('outcome', '=', q.outcome);
    return query.execute();
  }

  async count(): Promise<number> {
    await this.writeBehind.flush();
    const row = await this.db
      .selectFrom('provisioning_requests')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async pruneIfDue(): Promise<void> {
    const max = this.maxEntries();
    if (this.sincePrune < Math.max(100, max / 100)) return;
    this.sincePrune = 0;
    const newest = await this.db
      .selectFrom('provisioning_requests')
      .select(sql<number>`max(id)`.as('id'))
      .executeTakeFirst();
    const cutoff = Number(newest?.id ?? 0) - max;
    if (cutoff > 0) await this.db.deleteFrom('provisioning_requests').where('id', '<=', cutoff).execute();
  }
}
