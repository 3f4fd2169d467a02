// The location service: which contacts each extension (AOR) is registered at, and the
// flow each registration arrived on. Lookups are in memory; changes are written behind
// to the database in batches so a registration never waits on the disk, and bindings
// are reloaded (and expired ones dropped) at start.
// Several nodes on one database (cluster.node_id): each node owns the bindings whose
// REGISTER reached it (only those it writes, refreshes, expires and keeps alive). Another
// node's binding is usable here only when it carries a Path (RFC 3327: the edge proxy
// it came through can reach the phone from any node); those are kept too, as a read-only
// view refreshed when that node's rows change, so a call to a phone registered through
// another node is routed through the edge. Each batch written says which AORs it changed
// (`announce`), so the other nodes reload those AORs, not every binding.
import { sql, type Selectable } from 'kysely';
import type { Db, OpenedDatabase } from '../storage/database.js';
import type { RegistrationsTable } from '../storage/tables.js';
import type { WriteBehind } from '../storage/write-behind.js';
import type { StatementRuns } from '../storage/sqlite-writer.js';
import { Interner } from '../util/intern.js';

export interface Binding {
  aor: string;
  /** Contact URI as the phone wrote it. */
  contact: string;
  /** Contact header parameters other than expires and q, as written (e.g. `;+sip.instance="…"`). */
  contactParams: string;
  expiresAt: number;
  transport: string;
  sourceAddress: string;
  sourcePort: number;
  flowId: string;
  userAgent: string | null;
  callId: string;
  cseq: number;
  q: string | null;
  instance: string | null;
  regId: number | null;
  path: string[] | null;
  registeredAt: number;
  /**
   * The REGISTER came from another address or port than its Via named: the phone is
   * behind NAT and is reached through the flow it registered on, not its Contact.
   */
  behindNat: boolean;
}

/** A binding registered through another node (with a Path). */
export type NodeBinding = Binding & { node: string };

const NONE: readonly Binding[] = [];

export type LocationEvent = 'registered' | 'refreshed' | 'unregistered' | 'expired';
type Listener = (event: LocationEvent, binding: Binding) => void;

export class Location {
  private readonly byAor = new Map<string, Binding[]>();
  /** How many bindings were registered from each source address (the flood guard asks). */
  private readonly bySource = new Map<string, number>();
  private readonly listeners: Listener[] = [];
  private readonly dirty = new Set<string>();
  /** Other nodes' bindings that carry a Path, by AOR. */
  private readonly others = new Map<string, NodeBinding[]>();
  /** No binding of this node expires before this (an early value only costs a sweep). */
  private nextExpiry = Infinity;
  private sweeper: NodeJS.Timeout | undefined;
  /** Binding fields that repeat across phones (User-Agent, transport, Contact parameters, NAT address), kept once. */
  readonly values = new Interner();

  constructor(
    private readonly db: Db,
    private readonly writeBehind: WriteBehind,
    /** This node (cluster.node_id). Rows written before nodes were recorded ('') are its own. */
    readonly node = 'pbx1',
    /** `announce`: tells the other nodes which AORs a batch changed, at its commit. */
    private readonly database: Pick<OpenedDatabase, 'announce'> = {},
  ) {}

  /** This node's bindings and the other nodes' reachable ones, from the database. */
  async load(): Promise<void> {
    const now = Date.now();
    await this.db.deleteFrom('registrations').where('expires_at', '<=', new Date(now).toISOString()).execute();
    const rows = await this.db.selectFrom('registrations').selectAll().where('node_id', 'in', [this.node, '']).execute();
    this.byAor.clear();
    this.nextExpiry = Infinity;
    this.bySource.clear();
    for (const r of rows) {
      const expiresAt = Date.parse(r.expires_at);
      if (expiresAt <= now) continue;
      if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
      // An array grown by push() reserves 17 slots; most AORs have one binding.
      const list = this.byAor.get(r.aor);
      if (list) list.push(fromRow(r, this.values));
      else this.byAor.set(r.aor, [fromRow(r, this.values)]);
      this.countSource(r.source_address, 1);
    }
    await this.loadOtherNodes();
  }

  /**
   * The other nodes' bindings that carry a Path, again: of these AORs (their rows changed),
   * or all of them.
   */
  async loadOtherNodes(aors?: Iterable<string>): Promise<void> {
    if (!aors) {
      const rows = await this.othersQuery().execute();
      this.others.clear();
      this.addOthers(rows);
      return;
    }
    const list = [...aors];
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const rows = await this.othersQuery().where('aor', 'in', chunk).execute();
      for (const aor of chunk) this.others.delete(aor);
      this.addOthers(rows);
    }
  }

  private othersQuery() {
    return this.db
      .selectFrom('registrations')
      .selectAll()
      .where('node_id', 'not in', [this.node, ''])
      .where('path', 'is not', null)
      .where('expires_at', '>', new Date().toISOString());
  }

  private addOthers(rows: Selectable<RegistrationsTable>[]): void {
    for (const r of rows) {
      const b: NodeBinding = { ...fromRow(r, this.values), node: r.node_id };
      const list = this.others.get(r.aor);
      if (list) list.push(b);
      else this.others.set(r.aor, [b]);
    }
  }

  /** Bindings registered through other nodes that this node can reach (through their Path). */
  fromOtherNodes(): NodeBinding[] {
    const now = Date.now();
    return [...this.others.values()].flat().filter((b) => b.expiresAt > now);
  }

  /** Starts removing expired bindings every `intervalMs`. */
  startExpiry(intervalMs = 1000): void {
    this.sweeper = setInterval(() => this.expire(Date.now()), intervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  onChange(l: Listener): void {
    this.listeners.push(l);
  }

  /** Live bindings of an AOR: this node's, then other nodes' reachable ones (a contact this node has is not repeated). */
  lookup(aor: string): Binding[] {
    const own = this.own(aor);
    const others = this.others.get(aor);
    if (!others) return own;
    const now = Date.now();
    for (const b of others) if (b.expiresAt > now && !own.some((o) => o.contact === b.contact)) own.push(b);
    return own;
  }

  /** Live bindings of an AOR registered through this node (the registrar updates these). */
  own(aor: string): Binding[] {
    const list = this.byAor.get(aor);
    if (!list) return [];
    const now = Date.now();
    return list.filter((b) => b.expiresAt > now);
  }

  /** The AOR has a live binding (here or reachable through another node), found without listing them. */
  isRegistered(aor: string): boolean {
    const now = Date.now();
    for (const b of this.byAor.get(aor) ?? NONE) if (b.expiresAt > now) return true;
    for (const b of this.others.get(aor) ?? NONE) if (b.expiresAt > now) return true;
    return false;
  }

  /** Some phone holds a registration made from this address. */
  hasBindingFrom(address: string): boolean {
    return this.bySource.has(address);
  }

  /** The AOR has a live registration made from this address. */
  isRegisteredFrom(aor: string, address: string): boolean {
    return this.own(aor).some((b) => b.sourceAddress === address);
  }

  private countSource(address: string, delta: number): void {
    const n = (this.bySource.get(address) ?? 0) + delta;
    if (n > 0) this.bySource.set(address, n);
    else this.bySource.delete(address);
  }

  /** How many bindings this node holds (expired ones go within a second), without listing them. */
  get count(): number {
    let n = 0;
    for (const list of this.byAor.values()) n += list.length;
    return n;
  }

  /** How many extensions have a binding here. */
  get registeredAors(): number {
    return this.byAor.size;
  }

  /** This node's live bindings. */
  all(): Binding[] {
    const now = Date.now();
    return [...this.byAor.values()].flat().filter((b) => b.expiresAt > now);
  }

  /** Replaces the AOR's bindings; `events` says what happened to which, for logs and listeners. */
  replace(aor: string, bindings: Binding[], events: [LocationEvent, Binding][]): void {
    for (const b of this.byAor.get(aor) ?? []) this.countSource(b.sourceAddress, -1);
    for (const b of bindings) {
      this.countSource(b.sourceAddress, 1);
      if (b.expiresAt < this.nextExpiry) this.nextExpiry = b.expiresAt;
    }
    // A copy of exactly its length: the caller's list may have been grown by push().
    if (bindings.length) this.byAor.set(aor, bindings.slice());
    else this.byAor.delete(aor);
    this.persist(aor);
    for (const [e, b] of events) this.emit(e, b);
  }

  /**
   * Removes the bindings whose time is up. A sweep walks every binding, so it runs only
   * once the earliest expiry seen may have passed (100,000 phones: not 100,000 checks a
   * second; phones refresh before their bindings expire, so sweeps are rare).
   */
  private expire(now: number): void {
    if (now < this.nextExpiry) return;
    // Lists replaced during the sweep (and any binding added by a listener) lower it again in replace().
    this.nextExpiry = Infinity;
    let next = Infinity;
    for (const [aor, list] of this.byAor) {
      let expired = 0;
      for (const b of list) {
        if (b.expiresAt <= now) expired++;
        else if (b.expiresAt < next) next = b.expiresAt;
      }
      if (expired === 0) continue;
      const live = list.filter((b) => b.expiresAt > now);
      const gone = list.filter((b) => b.expiresAt <= now);
      this.replace(aor, live, gone.map((b) => ['expired', b]));
    }
    if (next < this.nextExpiry) this.nextExpiry = next;
  }

  /**
   * Marks the AOR for the next batch. One flush writes every changed AOR with a few
   * multi-row statements, however many registrations arrived in between.
   */
  private persist(aor: string): void {
    this.dirty.add(aor);
    if (this.writeBehind.statementsOffThread) {
      this.writeBehind.putStatements('registrations', () => this.bindingStatements());
      return;
    }
    this.writeBehind.put('registrations', async (trx) => {
      const aors = [...this.dirty];
      this.dirty.clear();
      for (let i = 0; i < aors.length; i += 500) {
        const chunk = aors.slice(i, i + 500);
        await trx.deleteFrom('registrations').where('aor', 'in', chunk).where('node_id', 'in', [this.node, '']).execute();
        const rows = chunk.flatMap((a) => (this.byAor.get(a) ?? []).map((b) => toRow(b, this.node)));
        // SQLite allows 32766 bound values per statement; 17 columns × 1000 rows stays well under.
        // An upsert: on a shared PostgreSQL another node may have inserted the same
        // binding since our delete, and a conflict would fail the whole batch.
        for (let j = 0; j < rows.length; j += 1000) {
          await trx
            .insertInto('registrations')
            .values(rows.slice(j, j + 1000))
            .onConflict((oc) =>
              oc.columns(['aor', 'contact']).doUpdateSet((eb) => ({
                contact_params: eb.ref('excluded.contact_params'),
                expires_at: eb.ref('excluded.expires_at'),
                transport: eb.ref('excluded.transport'),
                source_address: eb.ref('excluded.source_address'),
                source_port: eb.ref('excluded.source_port'),
                flow_id: eb.ref('excluded.flow_id'),
                user_agent: eb.ref('excluded.user_agent'),
                call_id: eb.ref('excluded.call_id'),
                cseq: eb.ref('excluded.cseq'),
                q: eb.ref('excluded.q'),
                instance: eb.ref('excluded.instance'),
                reg_id: eb.ref('excluded.reg_id'),
                path: eb.ref('excluded.path'),
                registered_at: eb.ref('excluded.registered_at'),
                behind_nat: eb.ref('excluded.behind_nat'),
                // The phone registered here now (the node it came through before died): ours.
                node_id: eb.ref('excluded.node_id'),
              })),
            )
            .execute();
        }
        await this.database.announce?.(trx, 'registrations', chunk);
      }
    });
  }

  /** The changed AORs' rows, replaced on the writer thread: a delete per AOR, an upsert per binding, each prepared once there. */
  private bindingStatements(): StatementRuns[] {
    const aors = [...this.dirty];
    this.dirty.clear();
    const statements = (this.compiled ??= this.compileStatements());
    const deletes = aors.map((a) => [a, this.node, '']);
    const upserts: unknown[][] = [];
    for (const a of aors) for (const b of this.byAor.get(a) ?? NONE) upserts.push(Object.values(toRow(b, this.node)));
    return [
      { sql: statements.delete, runs: deletes },
      { sql: statements.upsert, runs: upserts },
    ];
  }

  private compiled: { delete: string; upsert: string } | undefined;

  private compileStatements(): { delete: string; upsert: string } {
    const del = this.db.deleteFrom('registrations').where('aor', '=', '').where('node_id', 'in', [this.node, '']).compile();
    const sample = toRow({ aor: '', contact: '', contactParams: '', expiresAt: 0, transport: '', sourceAddress: '', sourcePort: 0, flowId: '', userAgent: null, callId: '', cseq: 0, q: null, instance: null, regId: null, path: null, registeredAt: 0, behindNat: false }, this.node);
    const upsert = this.db
      .insertInto('registrations')
      .values(sample)
      .onConflict((oc) => oc.columns(['aor', 'contact']).doUpdateSet(Object.fromEntries(Object.keys(sample).filter((k) => k !== 'aor' && k !== 'contact').map((k) => [k, sql.ref(`excluded.${k}`)]))))
      .compile();
    // Each run's parameters are a row's values in toRow's order: the statements must take exactly those.
    if (del.parameters.length !== 3 || upsert.parameters.length !== Object.keys(sample).length) throw new Error('registrations: unexpected statement parameters');
    return { delete: del.sql, upsert: upsert.sql };
  }

  private emit(e: LocationEvent, b: Binding): void {
    for (const l of this.listeners) l(e, b);
  }
}

function toRow(b: Binding, node: string) {
  return {
    node_id: node,
    aor: b.aor,
    contact: b.contact,
    contact_params: b.contactParams,
    expires_at: new Date(b.expiresAt).toISOString(),
    transport: b.transport,
    source_address: b.sourceAddress,
    source_port: b.sourcePort,
    flow_id: b.flowId,
    user_agent: b.userAgent,
    call_id: b.callId,
    cseq: b.cseq,
    q: b.q,
    instance: b.instance,
    reg_id: b.regId,
    path: b.path ? JSON.stringify(b.path) : null,
    registered_at: new Date(b.registeredAt).toISOString(),
    behind_nat: b.behindNat ? 1 : 0,
  };
}

type RegistrationsRow = Selectable<RegistrationsTable>;

function fromRow(r: RegistrationsRow, values: Interner): Binding {
  const expiresAt = Date.parse(r.expires_at);
  return {
    aor: r.aor,
    contact: r.contact,
    contactParams: values.get(r.contact_params),
    expiresAt,
    transport: values.get(r.transport),
    sourceAddress: values.get(r.source_address),
    sourcePort: r.source_port,
    flowId: r.flow_id,
    userAgent: values.maybe(r.user_agent),
    callId: r.call_id,
    cseq: r.cseq,
    q: values.maybe(r.q),
    instance: r.instance,
    regId: r.reg_id,
    path: r.path ? (JSON.parse(r.path) as string[]) : null,
    registeredAt: Date.parse(r.registered_at),
    behindNat: r.behind_nat === 1,
  };
}
