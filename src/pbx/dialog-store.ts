// Keeps the proxy's confirmed INVITE dialogs (and the answered calls they carry) in the
// database, written behind, so that a restart neither strands the calls in progress
// (their BYE still finds the other party) nor loses their CDR.
import type { Db } from '../storage/database.js';
import type { WriteBehind } from '../storage/write-behind.js';
import { dialogKey } from '../sip/dialog.js';
import type { Call } from './calls.js';
import type { ProxyDialog } from './dialog-table.js';
import type { Peer } from './reach.js';

export class DialogStore {
  constructor(
    private readonly db: Db,
    private readonly writeBehind: WriteBehind,
  ) {}

  save(d: ProxyDialog): void {
    const id = dialogKey(d.callId, d.callerTag, d.calleeTag);
    // Keyed and read when written: the call is marked answered just after its dialog is
    // confirmed, and a dialog saved and removed within one batch costs only the delete.
    this.writeBehind.put(`dialog:${id}`, (trx) => {
      const row = {
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
        updated_at: new Date().toISOString(),
      };
      return trx
        .insertInto('dialogs')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet({ caller_peer: row.caller_peer, callee_peer: row.callee_peer, answered_at: row.answered_at, updated_at: row.updated_at }))
        .execute();
    });
  }

  remove(d: ProxyDialog): void {
    const id = dialogKey(d.callId, d.callerTag, d.calleeTag);
    this.writeBehind.put(`dialog:${id}`, (trx) => trx.deleteFrom('dialogs').where('id', '=', id).execute());
  }

  /** The dialogs that were up when the process stopped, with their calls rebuilt. */
  async load(): Promise<ProxyDialog[]> {
    const rows = await this.db.selectFrom('dialogs').selectAll().execute();
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
