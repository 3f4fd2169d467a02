// Every provisioning request, good or bad, persisted for the admin (API, web UI,
// adoption of unknown phones). Rows are written behind in batches and the table is
// pruned to `maxEntries`, so a scanner cannot grow the database without bound.
import { sql } from 'kysely';
import type { Db } from '../storage/database.js';
import type { StatementRuns } from '../storage/sqlite-writer.js';
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
  ) {}

  add(entry: RequestLogEntry): void {
    this.sincePrune++;
    this.pending.push(entry);
    // One job per flush inserts everything pending, 1000 rows a statement (11 columns:
    // under SQLite's 32766 bound values); on SQLite's writer thread, off the event loop.
    // The pruning goes in the same batch: a DELETE of a few hundred rows on the event
    // loop's SQLite connection held the loop 5–13 ms.
    this.writeBehind.putStatements('provisioning-requests', () => {
      const rows = this.pending;
      this.pending = [];
      const statements: StatementRuns[] = [];
      if (this.writeBehind.statementsOffThread) {
        // On SQLite's writer thread one prepared single-row INSERT runs per row: building a
        // 1000-row statement with Kysely for every flush was 3 % of serving phone files.
        this.insertOne ??= this.db.insertInto('provisioning_requests').values(SAMPLE).compile().sql;
        statements.push({ sql: this.insertOne, runs: rows.map((r) => COLUMNS.map((c) => r[c])) });
      } else {
        for (let i = 0; i < rows.length; i += 1000) statements.push(runsOf(this.db.insertInto('provisioning_requests').values(rows.slice(i, i + 1000)).compile()));
      }
      if (this.pruneDue()) statements.push(this.pruneRuns());
      return statements;
    });
  }

  private insertOne: string | undefined;
  private pruneOne: string | undefined;

  /** True (and counting starts over) once enough rows were added since the last pruning. */
  private pruneDue(): boolean {
    if (this.sincePrune < Math.max(100, this.maxEntries() / 100)) return false;
    this.sincePrune = 0;
    return true;
  }

  /** Deletes all but the newest maxEntries rows, as one statement of the batch. */
  private pruneRuns(): StatementRuns {
    this.pruneOne ??= this.db
      .deleteFrom('provisioning_requests')
      .where('id', '<=', sql<number>`(select max(id) from provisioning_requests) - ${0}`)
      .compile().sql;
    return { sql: this.pruneOne, runs: [[this.maxEntries()]] };
  }

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
}
