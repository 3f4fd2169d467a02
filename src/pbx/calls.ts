// Active calls and call detail records. A call starts when an authenticated INVITE is
// routed, is answered by the first 2xx, and ends with a final error, a CANCEL or a
// BYE from either side. Each ended call becomes one CDR row, written behind.
import type { Logger } from 'pino';
import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../storage/database.js';
import type { CdrTable } from '../storage/tables.js';
import { runsOf, type WriteBehind } from '../storage/write-behind.js';

export type CallResult = 'answered' | 'voicemail' | 'busy' | 'no_answer' | 'cancelled' | 'unknown_extension' | 'unavailable' | 'rejected' | 'failed';
export type HangupSide = 'caller' | 'callee' | 'system';

/** What the pbx measured of a call's RTP when it was a party of the call. */
export interface MediaFigures {
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  jitterMs: number;
  /** An anchored call whose audio flowed one way: who sent nothing ('caller' or 'callee'). */
  oneWay?: 'caller' | 'callee' | null;
}

export interface Call {
  id: string;
  callId: string;
  caller: string;
  callee: string;
  startedAt: number;
  answeredAt: number | null;
  state: 'ringing' | 'answered';
  /** internal (between extensions and services), outbound or inbound (through a trunk). */
  direction: CallDirection;
  /** The trunk of an outside call (outbound: the last one tried). */
  trunk: string | null;
  /** The number the outside caller dialled (inbound). */
  did: string | null;
}

export type CallDirection = 'internal' | 'outbound' | 'inbound';

export type CdrRow = Selectable<CdrTable>;

export interface CdrQuery {
  limit?: number;
  extension?: string;
  result?: string;
  since?: string;
}

export class Calls {
  private readonly active = new Map<string, Call>();
  readonly counters = { started: 0, answered: 0, ended: 0 };
  /** Ended calls' rows, written together with the next batch. */
  private pendingCdr: Insertable<CdrTable>[] = [];

  constructor(
    private readonly db: Db,
    private readonly writeBehind: WriteBehind,
    private readonly log: Logger,
  ) {}

  start(callId: string, fromTag: string, caller: string, callee: string, outside: { direction: CallDirection; trunk?: string; did?: string } = { direction: 'internal' }): Call {
    const call: Call = {
      id: `${callId};${fromTag}`,
      callId,
      caller,
      callee,
      startedAt: Date.now(),
      answeredAt: null,
      state: 'ringing',
      direction: outside.direction,
      trunk: outside.trunk ?? null,
      did: outside.did ?? null,
    };
    this.active.set(call.id, call);
    this.counters.started++;
    this.log.info({ call_id: callId, caller, callee }, `Call ${caller} → ${callee} started`);
    return call;
  }

  answered(call: Call): void {
    if (call.state === 'answered') return;
    call.state = 'answered';
    call.answeredAt = Date.now();
    this.counters.answered++;
    this.log.info({ call_id: call.callId, caller: call.caller, callee: call.callee }, `Call ${call.caller} → ${call.callee} answered`);
  }

  /** Takes back an answered call that was in progress when the process last stopped. */
  restore(call: Call): void {
    if (this.active.has(call.id)) return;
    this.active.set(call.id, call);
    this.log.info({ call_id: call.callId, caller: call.caller, callee: call.callee }, `Call ${call.caller} → ${call.callee} still in progress after the restart`);
  }

  /** Ends the call once (later calls are ignored) and records its CDR. */
  end(call: Call, result: CallResult, status: number, side: HangupSide | null, media?: MediaFigures): void {
    if (!this.active.delete(call.id)) return;
    const ended = Date.now();
    this.counters.ended++;
    const duration = call.answeredAt ? Math.round((ended - call.answeredAt) / 1000) : 0;
    this.log.info(
      { call_id: call.callId, caller: call.caller, callee: call.callee, result, status, hangup_side: side, duration_seconds: duration },
      `Call ${call.caller} → ${call.callee} ended: ${result} (${status})${side ? `, hung up by ${side}` : ''}`,
    );
    const row = {
      call_id: call.callId,
      caller: call.caller,
      callee: call.callee,
      started_at: new Date(call.startedAt).toISOString(),
      answered_at: call.answeredAt ? new Date(call.answeredAt).toISOString() : null,
      ended_at: new Date(ended).toISOString(),
      result,
      status,
      hangup_side: side,
      duration_seconds: duration,
      media_packets_sent: media?.packetsSent ?? null,
      media_packets_received: media?.packetsReceived ?? null,
      media_packets_lost: media ? Math.max(0, media.packetsLost) : null,
      media_jitter_ms: media?.jitterMs ?? null,
      media_one_way: media?.oneWay ?? null,
      direction: call.direction,
      trunk: call.trunk,
      did: call.did,
    };
    // One multi-row INSERT per batch (a statement per call cost a prepare each: 4 % of a
    // busy server's CPU at 1,500 calls/s).
    this.pendingCdr.push(row);
    this.writeBehind.putStatements('cdr', () => {
      const rows = this.pendingCdr;
      this.pendingCdr = [];
      // 23 columns × 500 rows stays under SQLite's 32766 bound values.
      const statements = [];
      for (let i = 0; i < rows.length; i += 500) statements.push(runsOf(this.db.insertInto('cdr').values(rows.slice(i, i + 500)).compile()));
      return statements;
    });
  }

  list(): Call[] {
    return [...this.active.values()];
  }

  /** Calls started since `since` (ISO time): those ended (CDRs) and those going on. */
  async countSince(since: string): Promise<number> {
    await this.writeBehind.flush();
    const row = await this.db.selectFrom('cdr').select((eb) => eb.fn.countAll<number>().as('n')).where('started_at', '>=', since).executeTakeFirstOrThrow();
    return Number(row.n) + this.active.size;
  }

  async cdr(q: CdrQuery = {}): Promise<CdrRow[]> {
    await this.writeBehind.flush();
    let query = this.db.selectFrom('cdr').selectAll().orderBy('id', 'desc').limit(Math.min(q.limit ?? 100, 1000));
    if (q.extension) query = query.where((eb) => eb.or([eb('caller', '=', q.extension!), eb('callee', '=', q.extension!)]));
    if (q.result) query = query.where('result', '=', q.result);
    if (q.since) query = query.where('started_at', '>=', q.since);
    const rows = await query.execute();
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }
}

/** What a final response status means for the call. */
export function resultOf(status: number): CallResult {
  if (status >= 200 && status < 300) return 'answered';
  if (status === 486 || status === 600) return 'busy';
  if (status === 487) return 'cancelled';
  if (status === 404 || status === 484) return 'unknown_extension';
  if (status === 480) return 'no_answer';
  // 408 here means the callee's phone never answered the INVITE at all (transaction timeout).
  if (status === 408 || status === 503) return 'unavailable';
  if (status === 603 || status === 403) return 'rejected';
  return 'failed';
}
