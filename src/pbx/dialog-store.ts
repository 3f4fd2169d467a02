// Keeps the proxy's confirmed INVITE dialogs (and the answered calls they carry) in the
// database, written behind, so that a restart neither strands the calls in progress
// (their BYE still finds the other party) nor loses their CDR.
import type { Db } from '../storage/database.js';
import { runsOf, type WriteBehind } from '../storage/write-behind.js';
import type { StatementRuns } from '../storage/sqlite-writer.js';
import { dialogKey } from '../sip/dialog.js';
import type { Call } from './calls.js';
import type { ProxyDialog } from './dialog-table.js';
import type { Peer } from './reach.js';

export class DialogStore {
  /** Dialogs saved (a write pending, made, or loaded at start). */
  private readonly saved = new Set<string>();
  /** Dialogs whose row a batch has written (or that were loaded at start). */
  private readonly written = new Set<string>();
  /** Saves and deletes for the next batch: one multi-row statement each (a statement per dialog cost a prepare each). */
  private upserts = new Map<string, ProxyDialog>();
  private deletes = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly writeBehind: WriteBehind,
  ) {}

  save(d: ProxyDialog): void {
    const id = dialogKey(d.callId, d.callerTag, d.calleeTag);
    this.saved.add(id);
    this.deletes.delete(id);
    this.upserts.set(id, d);
    this.schedule();
  }

  /** A short call saved and ended within one batch never reaches the database at all. */
  remove(d: ProxyDialog): void {
    const id = dialogKey(d.callId, d.callerTag, d.calleeTag);
    const pending = this.upserts.delete(id);
    if (!this.saved.delete(id)) return;
    // Its only save was still waiting: nothing was written. (A save a batch has taken but not
    // yet run counts as written: the delete then follows it in the next batch.)
    if (pending && !this.written.has(id)) return;
    this.written.delete(id);
    this.deletes.add(id);
    this.schedule();
  }

  private schedule(): void {
    this.writeBehind.putStatements('dialogs', () => {
      const upserts = [...this.upserts];
      const deletes = [...this.deletes];
      this.upserts = new Map();
      this.deletes = new Set();
      // Read when written: the call is marked answered just after its dialog is confirmed.
      const now = new Date().toISOString();
      const rows = upserts.map(([id, d]) => {
        this.written.add(id);
        return {
          id,
          call_id: d.callId,
          caller_tag: d.callerTag,
          callee_tag: d.calleeTag,
          caller_peer: JSON.stringify(d.caller),
          callee_peer: JSON.stringify(d.callee),
          caller: d.call?.caller ?? null,
          callee: d.call?.callee ?? null,
          started_at: d.call ? new Date(d.call.startedAt).toISOString() : null,
          answered_at: d.call?.answeredAt ? new Date(d.call.answeredAt).toISOString() : null,
          updated_at: now,
        };
      });
      const statements: StatementRuns[] = [];
      for (let i = 0; i < deletes.length; i += 500) statements.push(runsOf(this.db.deleteFrom('dialogs').where('id', 'in', deletes.slice(i, i + 500)).compile()));
      // 11 columns × 500 rows stays under SQLite's 32766 bound values.
      for (let i = 0; i < rows.length; i += 500) {
        const upsert = this.db
          .insertInto('dialogs')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              caller_peer: eb.ref('excluded.caller_peer'),
              callee_peer: eb.ref('excluded.callee_peer'),
              answered_at: eb.ref('excluded.answered_at'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .compile();
        statements.push(runsOf(upsert));
      }
      return statements;
    });
  }

  /** The dialogs that were up when the process stopped, with their calls rebuilt. */
  async load(): Promise<ProxyDialog[]> {
    const rows = await this.db.selectFrom('dialogs').selectAll().execute();
    for (const r of rows) {
      this.saved.add(r.id);
      this.written.add(r.id);
    }
    return rows.map((r) => {
      const call: Call | null =
        r.caller !== null && r.callee !== null && r.started_at !== null
          ? {
              id: `${r.call_id};${r.caller_tag}`,
              callId: r.call_id,
              caller: r.caller,
              callee: r.callee,
              startedAt: Date.parse(r.started_at),
              answeredAt: r.answered_at ? Date.parse(r.answered_at) : null,
              // Only calls between extensions are proxied dialogs (trunk calls are bridged).
              direction: 'internal' as const,
              trunk: null,
              did: null,
              state: 'answered',
            }
          : null;
      return {
        callId: r.call_id,
        callerTag: r.caller_tag,
        calleeTag: r.callee_tag,
        caller: JSON.parse(r.caller_peer) as Peer,
        callee: JSON.parse(r.callee_peer) as Peer,
        call,
        lastActivity: Date.parse(r.updated_at),
      };
    });
  }
}
