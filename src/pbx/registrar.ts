// REGISTER processing (RFC 3261 §10.3, RFC 5626 instance/reg-id, RFC 3327 Path).
// Outcomes are enumerated and mapped to responses in one place. The binding remembers
// the flow the REGISTER came on: calls go back over it, which is what works behind NAT.
import type { Logger } from 'pino';
import { makeResponse, type Header, type SipRequest, type SipResponse } from '../sip/message.js';
import type { Flow } from '../sip/transport.js';
import type { NameAddr } from '../sip/header-values.js';
import { authenticate, unsupportedOptions, type Authenticator } from './request-checks.js';
import { detached } from '../util/detached.js';
import type { Binding, LocationEvent, Location } from './location.js';

export interface RegistrarOptions {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  maxContacts: number;
  /** Option tags we support in Require (RFC 3261 §8.2.2.3). */
  supported: string[];
}

export interface RegistrarCounters {
  accepted: number;
  challenged: number;
  refused: number;
}

/** What became of a REGISTER (Kamailio's save() return codes, as names). */
export enum RegisterOutcome {
  /** Bindings added, refreshed or removed; the 200 lists the AOR's bindings. */
  Saved = 'saved',
  /** `Contact: *` with `Expires: 0`: every binding removed. */
  RemovedAll = 'removed-all',
  /** No valid credentials: challenged (also for an unknown user or a replay). */
  Challenged = 'challenged',
  /** Require names an option tag we do not support. */
  BadExtension = 'bad-extension',
  /** The credentials do not own the AOR, or it is no extension. */
  NotOwner = 'not-owner',
  TooManyContacts = 'too-many-contacts',
  IntervalTooBrief = 'interval-too-brief',
  StarNeedsExpiresZero = 'star-needs-expires-zero',
  CSeqOutOfOrder = 'cseq-out-of-order',
}

/** Each outcome's response (§10.3) and the counter it moves: the one place they are decided. */
const REPLIES: Record<RegisterOutcome, { status: number; reason?: string; counter: keyof RegistrarCounters }> = {
  [RegisterOutcome.Saved]: { status: 200, counter: 'accepted' },
  [RegisterOutcome.RemovedAll]: { status: 200, counter: 'accepted' },
  [RegisterOutcome.Challenged]: { status: 401, counter: 'challenged' },
  [RegisterOutcome.BadExtension]: { status: 420, counter: 'refused' },
  [RegisterOutcome.NotOwner]: { status: 403, reason: 'Forbidden: credentials do not own this address', counter: 'refused' },
  [RegisterOutcome.TooManyContacts]: { status: 403, counter: 'refused' },
  [RegisterOutcome.IntervalTooBrief]: { status: 423, counter: 'refused' },
  [RegisterOutcome.StarNeedsExpiresZero]: { status: 400, reason: 'Contact "*" requires Expires: 0', counter: 'refused' },
  [RegisterOutcome.CSeqOutOfOrder]: { status: 400, reason: 'CSeq out of order', counter: 'refused' },
};

export class Registrar {
  readonly counters: RegistrarCounters = { accepted: 0, challenged: 0, refused: 0 };

  constructor(
    private readonly location: Location,
    private readonly authenticator: Authenticator,
    private readonly isExtension: (user: string) => boolean,
    private readonly opts: () => RegistrarOptions,
    private readonly log: Logger,
  ) {}

  handle(req: SipRequest, flow: Flow): SipResponse {
    const o = this.opts();
    const unsupported = unsupportedOptions(req, 'require', o.supported);
    if (unsupported) return this.reply(req, RegisterOutcome.BadExtension, [unsupported]);

    const auth = authenticate(this.authenticator, req, flow, 'authorization', req.to.uri.user ?? undefined);
    if (!auth.ok) return this.reply(req, RegisterOutcome.Challenged, auth.challenges.map((value) => ({ name: 'www-authenticate', value })));
    const aor = req.to.uri.user ?? '';
    if (auth.username !== aor || !this.isExtension(aor)) {
      this.log.warn({ ip: flow.remoteAddress, username: auth.username, aor }, `REGISTER refused: ${auth.username} may not register ${aor || '(no user)'}`);
      return this.reply(req, RegisterOutcome.NotOwner);
    }

    const contacts = req.contacts;
    const expiresHeader = req.expires;
    const current = this.location.own(aor);
    const events: [LocationEvent, Binding][] = [];

    if (contacts === '*') {
      // §10.3 step 6: "*" is only valid with Expires: 0 and no other Contact.
      if (expiresHeader !== 0) return this.reply(req, RegisterOutcome.StarNeedsExpiresZero);
      if (current.some((b) => b.callId === req.callId && req.cseq.seq <= b.cseq)) return this.reply(req, RegisterOutcome.CSeqOutOfOrder);
      this.location.replace(aor, [], current.map((b) => ['unregistered', b]));
      this.logChange(aor, 'unregistered all contacts', flow);
      return this.reply(req, RegisterOutcome.RemovedAll);
    }

    const next = [...current];
    const now = Date.now();
    for (const c of contacts) {
      const requested = contactExpires(c) ?? expiresHeader ?? o.defaultExpires;
      if (requested > 0 && requested < o.minExpires) {
        return this.reply(req, RegisterOutcome.IntervalTooBrief, [{ name: 'min-expires', value: String(o.minExpires) }]);
      }
      const expires = Math.min(requested, o.maxExpires);
      const instance = c.params.get('+sip.instance') ?? null;
      const regIdText = c.params.get('reg-id');
      const regId = regIdText && /^\d+$/.test(regIdText) ? Number(regIdText) : null;
      const idx = next.findIndex((b) => (instance && b.instance === instance && b.regId === regId) || b.contact === c.uriText);
      const existing = idx >= 0 ? next[idx] : undefined;
      if (existing && existing.callId === req.callId && req.cseq.seq <= existing.cseq) return this.reply(req, RegisterOutcome.CSeqOutOfOrder);
      if (expires === 0) {
        if (existing) {
          next.splice(idx, 1);
          events.push(['unregistered', existing]);
        }
        continue;
      }
      // Kept for as long as the registration lives: copied out of the request's text
      // (a refresh reuses the copies it already has: most REGISTERs are refreshes).
      const userAgent = req.get('user-agent');
      const binding: Binding = {
        aor: existing ? existing.aor : detached(aor),
        contact: existing?.contact === c.uriText ? existing.contact : detached(c.uriText),
        contactParams: this.location.values.get(paramsText(c)),
        expiresAt: now + expires * 1000,
        transport: flow.transport,
        sourceAddress: this.location.values.get(flow.remoteAddress),
        sourcePort: flow.remotePort,
        flowId: flow.id,
        userAgent: this.location.values.maybe(userAgent),
        callId: existing?.callId === req.callId ? existing.callId : detached(req.callId),
        cseq: req.cseq.seq,
        q: this.location.values.maybe(c.params.get('q')),
        instance: instance === null ? null : detached(instance),
        regId,
        path: req.has('path') ? req.getAll('path').map(detached) : null,
        registeredAt: existing?.registeredAt ?? now,
        behindNat: behindNat(req, flow),
      };
      if (existing) {
        next[idx] = binding;
        events.push(['refreshed', binding]);
      } else {
        next.push(binding);
        events.push(['registered', binding]);
      }
    }
    if (next.length > o.maxContacts) return this.reply(req, RegisterOutcome.TooManyContacts, [], `More than ${o.maxContacts} contacts for ${aor}`);
    if (events.length) this.location.replace(aor, next, events);
    for (const [e, b] of events) {
      if (e === 'refreshed') continue;
      this.logChange(aor, `${e} ${b.contact}`, flow, b.userAgent);
    }
    const extra: Header[] = next.map((b) => ({
      name: 'contact',
      value: `<${b.contact}>${b.contactParams};expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`,
    }));
    if (req.has('path')) extra.push({ name: 'path', value: req.getAll('path').join(', ') });
    if (req.getAll('supported').some((s) => s.toLowerCase() === 'outbound') && contacts.some((c) => c.params.has('reg-id'))) {
      extra.push({ name: 'require', value: 'outbound' });
    }
    extra.push({ name: 'date', value: httpDate(now) });
    return this.reply(req, RegisterOutcome.Saved, extra);
  }

  private reply(req: SipRequest, outcome: RegisterOutcome, headers: Header[] = [], reason?: string): SipResponse {
    const r = REPLIES[outcome];
    this.counters[r.counter]++;
    return makeResponse(req, r.status, reason ?? r.reason, undefined, headers);
  }

  private logChange(aor: string, what: string, flow: Flow, userAgent?: string | null): void {
    this.log.info(
      { extension: aor, source: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.transport, user_agent: userAgent ?? null },
      `Extension ${aor} ${what} via ${flow.transport.toUpperCase()} ${flow.remoteAddress}:${flow.remotePort}`,
    );
  }
}

let dateSecond = -1;
let dateText = '';
/** The Date header's value (RFC 3261 §20.17), made once a second. */
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** RFC 3581 view: the source differs from what the top Via claims (Kamailio's nat_uac_test 2+16). */
function behindNat(req: SipRequest, flow: Flow): boolean {
  if (flow.reliable) return true; // streams: always reuse the connection
  const via = req.topVia;
  return via.host !== flow.remoteAddress.toLowerCase() || (via.port ?? 5060) !== flow.remotePort;
}

function contactExpires(c: NameAddr): number | null {
  const v = c.params.get('expires');
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Math.min(Number(v), 2 ** 31);
}

/** Contact header params to echo back, without expires and q (the registrar sets those). */
function paramsText(c: NameAddr): string {
  let s = '';
  for (const [k, v] of c.params) {
    if (k === 'expires') continue;
    s += v === '' ? `;${k}` : `;${k}=${/^[\w.!%*+`'~-]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`}`;
  }
  return s;
}
