// REGISTER processing (RFC 3261 §10.3, RFC 5626 instance/reg-id, RFC 3327 Path).
// Outcomes are enumerated and mapped to responses in one place. The binding remembers
// the flow the REGISTER came on: calls go back over it, which is what works behind NAT.
import type { Logger } from 'pino';
import { makeResponse, type Header, type SipRequest, type SipResponse } from '../sip/message.js';
import type { Flow } from '../sip/transport.js';
import type { NameAddr } from '../sip/header-values.js';
import type { DigestAuth } from './digest-auth.js';
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

export class Registrar {
  readonly counters: RegistrarCounters = { accepted: 0, challenged: 0, refused: 0 };

  constructor(
    private readonly location: Location,
    private readonly auth: DigestAuth,
    private readonly isExtension: (user: string) => boolean,
    private readonly opts: () => RegistrarOptions,
    private readonly log: Logger,
    private readonly onAuthFailure: (flow: Flow, username: string | undefined, reason: string) => void,
  ) {}

  handle(req: SipRequest, flow: Flow): SipResponse {
    const o = this.opts();
    const unsupported = req.getAll('require').filter((t) => !o.supported.includes(t.toLowerCase()));
    if (unsupported.length) {
      this.counters.refused++;
      return makeResponse(req, 420, undefined, undefined, [{ name: 'unsupported', value: unsupported.join(', ') }]);
    }

    const auth = this.auth.verify(req, 'authorization', flow.remoteAddress);
    if (!auth.ok) {
      if (auth.reason !== 'missing' && auth.reason !== 'stale') {
        this.onAuthFailure(flow, auth.username, auth.reason);
        this.log.warn({ ip: flow.remoteAddress, port: flow.remotePort, username: auth.username ?? null, reason: auth.reason }, `REGISTER authentication failed for ${auth.username ?? '(no username)'} from ${flow.remoteAddress}: ${auth.reason}`);
      }
      this.counters.challenged++;
      // Unknown user, wrong password, replay: all get the same fresh challenge.
      return this.challenge(req, flow, auth.reason === 'stale', req.to.uri.user ?? undefined);
    }
    const aor = req.to.uri.user ?? '';
    if (auth.username !== aor || !this.isExtension(aor)) {
      this.counters.refused++;
      this.log.warn({ ip: flow.remoteAddress, username: auth.username, aor }, `REGISTER refused: ${auth.username} may not register ${aor || '(no user)'}`);
      return makeResponse(req, 403, 'Forbidden: credentials do not own this address');
    }

    const contacts = req.contacts;
    const expiresHeader = req.expires;
    const current = this.location.lookup(aor);
    const events: [LocationEvent, Binding][] = [];

    if (contacts === '*') {
      // §10.3 step 6: "*" is only valid with Expires: 0 and no other Contact.
      if (expiresHeader !== 0) return this.refuse(req, 400, 'Contact "*" requires Expires: 0');
      for (const b of current) {
        if (b.callId === req.callId && req.cseq.seq <= b.cseq) return this.refuse(req, 400, 'CSeq out of order');
      }
      this.location.replace(aor, [], current.map((b) => ['unregistered', b]));
      this.logChange(aor, 'unregistered all contacts', flow);
      this.counters.accepted++;
      return makeResponse(req, 200);
    }

    const next = [...current];
    const now = Date.now();
    for (const c of contacts) {
      const requested = contactExpires(c) ?? expiresHeader ?? o.defaultExpires;
      if (requested > 0 && requested < o.minExpires) {
        this.counters.refused++;
        return makeResponse(req, 423, undefined, undefined, [{ name: 'min-expires', value: String(o.minExpires) }]);
      }
      const expires = Math.min(requested, o.maxExpires);
      const instance = c.params.get('+sip.instance') ?? null;
      const regIdText = c.params.get('reg-id');
      const regId = regIdText && /^\d+$/.test(regIdText) ? Number(regIdText) : null;
      const idx = next.findIndex((b) => (instance && b.instance === instance && b.regId === regId) || b.contact === c.uriText);
      const existing = idx >= 0 ? next[idx] : undefined;
      if (existing && existing.callId === req.callId && req.cseq.seq <= existing.cseq) {
        return this.refuse(req, 400, 'CSeq out of order');
      }
      if (expires === 0) {
        if (existing) {
          next.splice(idx, 1);
          events.push(['unregistered', existing]);
        }
        continue;
      }
      const binding: Binding = {
        aor,
        contact: c.uriText,
        contactParams: paramsText(c),
        expiresAt: now + expires * 1000,
        transport: flow.transport,
        sourceAddress: flow.remoteAddress,
        sourcePort: flow.remotePort,
        flowId: flow.id,
        userAgent: req.get('user-agent') ?? null,
        callId: req.callId,
        cseq: req.cseq.seq,
        q: c.params.get('q') ?? null,
        instance,
        regId,
        path: req.has('path') ? req.getAll('path') : null,
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
    if (next.length > o.maxContacts) return this.refuse(req, 403, `More than ${o.maxContacts} contacts for ${aor}`);
    if (events.length) this.location.replace(aor, next, events);
    for (const [e, b] of events) {
      if (e === 'refreshed') continue;
      this.logChange(aor, `${e} ${b.contact}`, flow, b.userAgent);
    }
    this.counters.accepted++;
    const extra: Header[] = next.map((b) => ({
      name: 'contact',
      value: `<${b.contact}>${b.contactParams};expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`,
    }));
    if (req.has('path')) extra.push({ name: 'path', value: req.getAll('path').join(', ') });
    if (req.getAll('supported').some((s) => s.toLowerCase() === 'outbound') && contacts.some((c) => c.params.has('reg-id'))) {
      extra.push({ name: 'require', value: 'outbound' });
    }
    extra.push({ name: 'date', value: new Date().toUTCString() });
    return makeResponse(req, 200, undefined, undefined, extra);
  }

  private challenge(req: SipRequest, flow: Flow, stale: boolean, user?: string): SipResponse {
    const extra = this.auth.challenges(flow.remoteAddress, stale, user).map((value) => ({ name: 'www-authenticate', value }));
    return makeResponse(req, 401, undefined, undefined, extra);
  }

  private refuse(req: SipRequest, status: number, reason: string): SipResponse {
    this.counters.refused++;
    return makeResponse(req, status, reason);
  }

  private logChange(aor: string, what: string, flow: Flow, userAgent?: string | null): void {
    this.log.info(
      { extension: aor, source: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.transport, user_agent: userAgent ?? null },
      `Extension ${aor} ${what} via ${flow.transport.toUpperCase()} ${flow.remoteAddress}:${flow.remotePort}`,
    );
  }
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
