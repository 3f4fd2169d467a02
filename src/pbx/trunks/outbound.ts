// Which outside calls go out, and where: the dialled number's class (from the site's
// numbering plan) against the caller's class of service, then the first outbound route
// whose pattern takes it (strip/prepend applied), through that route's enabled trunks in
// turn. Emergency numbers are always allowed and go out first through any route that
// takes them, else through every enabled trunk; they are logged loudly. A call the
// caller's class does not allow gets 403 and a security-log line (fail2ban's filter
// matches it).
import type { Logger } from 'pino';
import type { PbxConfig } from '../../config/schema.js';
import type { SecurityLog } from '../../security/security-log.js';
import { makeResponse, type SipRequest } from '../../sip/message.js';
import type { ServerTransaction } from '../../sip/transactions/server.js';
import type { Flow } from '../../sip/transport.js';
import type { TrunkBridge } from './b2bua.js';
import { applyDialPattern, parseDialPattern, type DialPattern } from '../../util/dial-pattern.js';
import { classAllows, classifyNumber, numberingPlan } from './numbering.js';
import type { Trunk, TrunkStore } from './store.js';

type Dialplan = PbxConfig['dialplan'];

export interface OutboundDeps {
  dialplan: () => Dialplan;
  trunks: TrunkStore;
  bridge: TrunkBridge;
  securityLog: SecurityLog;
  /** An extension's own class of service (null: dialplan.default_class). */
  classOf: (extension: string) => 'internal' | 'local' | 'national' | 'international' | null;
  /** The extension's name, the caller name the provider sees when the phone sends none. */
  nameOf: (extension: string) => string | null;
  /** The trunk stopped answering OPTIONS (its health check says down). */
  isDown: (trunk: string) => boolean;
  log: Logger;
}

export class OutboundCalls {
  /** When each extension's international calls started (the last hour's). */
  private readonly international = new Map<string, number[]>();
  private compiled: { routes: Dialplan['outbound_routes']; patterns: DialPattern[][] } | null = null;

  constructor(private readonly d: OutboundDeps) {}

  /** The phone's INVITE to a number that is no extension nor service: true when it was handled here. */
  handle(req: SipRequest, tx: ServerTransaction, flow: Flow, caller: string, dialled: string): boolean {
    const plan = this.d.dialplan();
    if (plan.outbound_routes.length === 0) return false;
    const numbering = numberingPlan(plan);
    const match = this.route(dialled);
    // The class is the number's as it leaves (an access code such as 9 stripped, a prefix added).
    const { class: cls, e164 } = classifyNumber(plan.emergency_numbers.includes(dialled) ? dialled : (match?.number ?? dialled), numbering);
    const emergency = cls === 'emergency';
    if (!match && !emergency) return false;
    const refuse = (reason: string, why: string, fields: Record<string, string | number> = {}) => {
      this.d.securityLog.write('call-refused', { ip: flow.remoteAddress, user: caller, number: dialled, class: cls, reason, ...fields });
      this.d.log.warn({ caller, number: dialled, class: cls, reason, ip: flow.remoteAddress, ...fields }, `Call from ${caller} to ${dialled} refused: ${why}`);
      tx.respond(makeResponse(req, 403, `Forbidden: ${why}`));
      return true;
    };
    const allowed = this.d.classOf(caller) ?? plan.default_class;
    if (!classAllows(allowed, cls)) return refuse('class', `${cls} calls are not allowed for ${allowed} class of service`, { allowed });
    // Toll-fraud limits; an emergency call is never held back by any of them.
    if (!emergency) {
      const from = this.d.bridge.callsFrom(caller);
      if (from >= plan.max_calls_per_extension) return refuse('extension-limit', `${caller} has ${from} outside calls in progress (dialplan.max_calls_per_extension)`, { limit: plan.max_calls_per_extension });
      if (cls === 'international') {
        const hourAgo = Date.now() - 3_600_000;
        const recent = (this.international.get(caller) ?? []).filter((t) => t > hourAgo);
        if (recent.length >= plan.max_international_per_hour) return refuse('international-limit', `${caller} made ${recent.length} international calls in the last hour (dialplan.max_international_per_hour)`, { limit: plan.max_international_per_hour });
        recent.push(Date.now());
        this.international.set(caller, recent);
      }
    }
    const enabled = (names: string[]): Trunk[] => names.map((n) => this.d.trunks.get(n)).filter((t): t is Trunk => t !== undefined && t.enabled);
    const routed = match ? enabled(match.trunks) : [];
    const free = (t: Trunk) => emergency || t.maxCalls === null || this.d.bridge.callsOn(t.name) < t.maxCalls;
    const trunks = routed.filter(free);
    if (routed.length > 0 && trunks.length === 0 && !emergency) return refuse('trunk-limit', `every trunk of route ${match!.name} is at its max_calls`, { route: match!.name });
    // An emergency number no route takes still goes out, on every trunk in turn.
    if (emergency) for (const t of this.d.trunks.list()) if (t.enabled && !trunks.includes(t)) trunks.push(t);
    if (trunks.length === 0) {
      this.d.log.warn({ caller, number: dialled, route: match?.name }, `Call from ${caller} to ${dialled}: no enabled trunk on route ${match?.name ?? '(none)'}`);
      tx.respond(makeResponse(req, 503, 'Service Unavailable: no trunk'));
      return true;
    }
    // A trunk whose provider stopped answering OPTIONS is tried last, not skipped: OPTIONS
    // may be filtered where calls are not.
    trunks.splice(0, trunks.length, ...upFirst(trunks, this.d.isDown));
    if (emergency) this.d.log.error({ caller, number: dialled, ip: flow.remoteAddress }, `EMERGENCY CALL from ${caller} to ${dialled}: sent out at once through ${trunks.map((t) => t.name).join(', ')}`);
    tx.respond(makeResponse(req, 100));
    void this.d.bridge.start(req, tx, flow, {
      caller,
      callerName: req.from.display || this.d.nameOf(caller),
      number: match?.number ?? dialled,
      callerId: match?.callerId ?? caller,
      trunks,
    });
    this.d.log.info({ caller, number: dialled, e164, class: cls, route: match?.name }, `Call from ${caller} to ${dialled} (${cls}) takes route ${match?.name ?? 'emergency'}`);
    return true;
  }

  /** The first route whose pattern takes the number, with the number to send. */
  private route(dialled: string): { name: string; number: string; trunks: string[]; callerId: string | null } | null {
    const routes = this.d.dialplan().outbound_routes;
    if (this.compiled?.routes !== routes) this.compiled = { routes, patterns: routes.map((r) => r.patterns.map(parseDialPattern)) };
    for (const [i, r] of routes.entries()) {
      for (const p of this.compiled.patterns[i]!) {
        const number = applyDialPattern(p, dialled);
        if (number !== null) return { name: r.name, number, trunks: r.trunks, callerId: r.caller_id };
      }
    }
    return null;
  }
}

/** The trunks in their order, those found down moved to the end (in their order). */
export function upFirst<T extends { name: string }>(trunks: T[], isDown: (name: string) => boolean): T[] {
  return [...trunks.filter((t) => !isDown(t.name)), ...trunks.filter((t) => isDown(t.name))];
}
