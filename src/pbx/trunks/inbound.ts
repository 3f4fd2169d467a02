// Calls from the outside world. An INVITE is a trunk's when it comes from one of the
// trunk's addresses (trunks/sources.ts): it needs no digest then, as a provider does not
// answer our challenges. The number the caller dialled (the DID) is read where the trunk
// puts it, matched against dialplan.inbound_routes (as written or in E.164 form), and the
// call goes to its destination: an extension (bridged, trunks/b2bua.ts), a mailbox, or an
// announcement; a DID no route takes goes to dialplan.inbound_default.
// An INVITE that claims to be a trunk's (its From names a trunk's host, or its
// Request-URI the user a trunk registers) but comes from another address is a toll-fraud
// probe or a spoof: 403, nothing else said, and a security-log line.
import type { Logger } from 'pino';
import type { PbxConfig } from '../../config/schema.js';
import type { SecurityLog } from '../../security/security-log.js';
import { parseNameAddr, splitList } from '../../sip/header-values.js';
import { makeResponse, type SipRequest } from '../../sip/message.js';
import type { ServerTransaction } from '../../sip/transactions/server.js';
import type { Flow } from '../../sip/transport.js';
import type { Call, Calls } from '../calls.js';
import type { InboundCall, TrunkBridge } from './b2bua.js';
import { numberingPlan, toE164 } from './numbering.js';
import type { TrunkSources } from './sources.js';
import type { Trunk, TrunkStore } from './store.js';

type Dialplan = PbxConfig['dialplan'];

export type Destination = { kind: 'extension' | 'voicemail' | 'announcement'; target: string } | { kind: 'reject'; target: null };

export interface InboundDeps {
  dialplan: () => Dialplan;
  sources: TrunkSources;
  trunks: TrunkStore;
  bridge: TrunkBridge;
  calls: Calls;
  isExtension: (n: string) => boolean;
  /** The extension's registered phones, each with the flow that reaches it. */
  contactsOf: (extension: string) => InboundCall['contacts'];
  /** The extension's ring time before its mailbox answers (else sip.no_answer_seconds). */
  ringSecondsFor: (extension: string) => number;
  /** Answers the INVITE with the mailbox's greeting and records a message; false: no such mailbox. */
  voicemail: (req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, reason: 'unavailable' | 'no_answer' | 'busy') => boolean;
  /** Answers the INVITE, plays the announcement, hangs up. */
  announce: (req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, name: string) => void;
  securityLog: SecurityLog;
  /** A spoofed trunk INVITE counts toward a ban like a failed login. */
  onSpoof: (ip: string) => void;
  log: Logger;
}

export class InboundCalls {
  constructor(private readonly d: InboundDeps) {}

  /** The trunk a request's source address belongs to (such requests are not flood-limited). */
  trunkAt(ip: string): Trunk | undefined {
    return this.d.sources.trunkAt(ip);
  }

  /** An initial INVITE before authentication: true when it was a trunk's call (or a spoof of one) and was handled. */
  handle(req: SipRequest, tx: ServerTransaction, flow: Flow): boolean {
    const trunk = this.d.sources.trunkAt(flow.remoteAddress);
    if (!trunk) {
      const claimed = req.has('proxy-authorization') ? undefined : this.claimedTrunk(req);
      if (!claimed) return false;
      this.d.securityLog.write('call-refused', { ip: flow.remoteAddress, user: req.from.uri.user ?? '', number: req.requestUri.user ?? '', reason: 'not-a-trunk-address', trunk: claimed.name });
      this.d.log.warn({ ip: flow.remoteAddress, trunk: claimed.name, from_host: req.from.uri.host }, `INVITE refused: it claims to come from trunk ${claimed.name} but comes from ${flow.remoteAddress}, not one of the trunk's addresses`);
      this.d.onSpoof(flow.remoteAddress);
      tx.respond(makeResponse(req, 403, 'Forbidden'));
      return true;
    }
    const mf = req.get('max-forwards');
    if (mf !== undefined && Number(mf) <= 0) {
      tx.respond(makeResponse(req, 483));
      return true;
    }
    tx.respond(makeResponse(req, 100));
    const did = didOf(req, trunk) || '(none)';
    const { number: caller, name: callerName } = callerOf(req);
    const dest = this.destination(did, trunk);
    const log = this.d.log.child({ call_id: req.callId, trunk: trunk.name, did, caller });
    const call = this.d.calls.start(req.callId, req.from.params.get('tag') ?? '', caller, dest.target ?? did, { direction: 'inbound', trunk: trunk.name, did });
    log.info({ destination: dest }, `Inbound call from ${caller}${callerName ? ` (${callerName})` : ''} via trunk ${trunk.name} to ${did}: ${dest.kind}${dest.target ? ` ${dest.target}` : ''}`);
    const refuse = (status: number, reason: string, result: 'unknown_extension' | 'rejected') => {
      tx.respond(makeResponse(req, status, reason));
      this.d.calls.end(call, result, status, null);
    };
    switch (dest.kind) {
      case 'reject':
        refuse(404, 'Not Found', 'unknown_extension');
        return true;
      case 'announcement':
        this.d.announce(req, tx, flow, call, dest.target);
        return true;
      case 'voicemail':
        if (!this.d.voicemail(req, tx, flow, call, 'unavailable')) {
          log.error(`Inbound route for ${did} names mailbox ${dest.target}, which does not exist or is switched off`);
          refuse(404, 'Not Found', 'unknown_extension');
        }
        return true;
      case 'extension': {
        const ext = dest.target;
        if (!this.d.isExtension(ext)) {
          log.error(`Inbound route for ${did} names extension ${ext}, which does not exist or is disabled`);
          refuse(404, 'Not Found', 'unknown_extension');
          return true;
        }
        void this.d.bridge.inbound(req, tx, flow, {
          trunk,
          call,
          caller,
          callerName,
          extension: ext,
          contacts: this.d.contactsOf(ext),
          ringSeconds: this.d.ringSecondsFor(ext),
          unreached: (reason) => this.d.voicemail(req, tx, flow, call, reason),
        });
        return true;
      }
    }
  }

  /** The route for a DID (as written, or both in E.164 form), else dialplan.inbound_default. */
  destination(did: string, trunk: Trunk): Destination {
    const plan = this.d.dialplan();
    const numbering = numberingPlan(plan);
    const e164 = toE164(did, numbering);
    for (const r of plan.inbound_routes) {
      if (r.trunk !== null && r.trunk !== trunk.name) continue;
      if (r.did === did || (e164 !== null && toE164(r.did, numbering) === e164)) return parseDestination(r.destination);
    }
    return parseDestination(plan.inbound_default);
  }

  /** A trunk this INVITE pretends to come from: its From host is the trunk's host, or its Request-URI the user the trunk registers. */
  private claimedTrunk(req: SipRequest): Trunk | undefined {
    const fromHost = req.from.uri.host.toLowerCase();
    const ruriUser = req.requestUri.user ?? '';
    // A phone calling an extension whose number happens to be a trunk's user name is no claim.
    const registeredUser = ruriUser !== '' && !this.d.isExtension(ruriUser);
    return this.d.trunks.list().find((t) => t.enabled && (t.host.toLowerCase() === fromHost || t.allowedAddresses.includes(fromHost) || (t.register && registeredUser && (ruriUser === t.contactUser || ruriUser === t.username))));
  }
}

export function parseDestination(text: string): Destination {
  const i = text.indexOf(':');
  const kind = i < 0 ? text : text.slice(0, i);
  if (kind === 'extension' || kind === 'voicemail' || kind === 'announcement') return { kind, target: text.slice(i + 1) };
  return { kind: 'reject', target: null };
}

/** The dialled number, where the trunk puts it. */
export function didOf(req: SipRequest, trunk: Trunk): string {
  const ruri = req.requestUri.user ?? '';
  switch (trunk.didFrom) {
    case 'request_uri':
      return ruri;
    case 'to':
      return req.to.uri.user ?? '';
    case 'diversion':
      return diverted(req) ?? ruri;
    case 'auto': {
      // A registering trunk's calls come to the Contact we registered: the DID is then in To.
      const registeredAs = trunk.register ? (trunk.contactUser ?? trunk.username) : null;
      return ruri === '' || ruri === registeredAs ? (req.to.uri.user ?? ruri) : ruri;
    }
  }
}

/**
 * The number first called when the provider forwarded the call: History-Info's first
 * entry (RFC 7044, entries in order), else the last Diversion entry (RFC 5806 adds each
 * diversion on top, so the oldest is last).
 */
function diverted(req: SipRequest): string | undefined {
  const userOf = (value: string) => {
    try {
      return parseNameAddr(value, 'Diversion').uri.user ?? undefined;
    } catch {
      return /(?:sips?|tel):\+?([^@;>]+)/.exec(value)?.[1];
    }
  };
  const history = req.getAll('history-info').flatMap(splitList);
  if (history.length > 0) return userOf(history[0]!);
  const diversions = req.getAll('diversion').flatMap(splitList);
  if (diversions.length > 0) return userOf(diversions[diversions.length - 1]!);
  return undefined;
}

/** The caller's number and name, as the provider asserts them (P-Asserted-Identity, else From); Privacy: id hides them. */
export function callerOf(req: SipRequest): { number: string; name: string | null } {
  const privacy = (req.get('privacy') ?? '').toLowerCase().split(/[;,\s]+/);
  if (privacy.includes('id') || privacy.includes('user')) return { number: 'anonymous', name: null };
  const pai = req.getAll('p-asserted-identity')[0];
  let number = req.from.uri.user ?? '';
  let name = req.from.display ?? null;
  if (pai) {
    const user = /(?:sips?:|tel:)(\+?[0-9A-Za-z*#.-]+)/.exec(pai)?.[1];
    if (user) number = user;
    const display = /^\s*"([^"]*)"|^\s*([^<"]+?)\s*</.exec(pai);
    const paiName = display?.[1] ?? display?.[2];
    if (paiName) name = paiName;
  }
  return { number: sanitize(number) || 'unknown', name: name ? sanitize(name) || null : null };
}

/** What a phone may be shown: no quotes, angle brackets or control characters from outside. */
function sanitize(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f"<>\\]/g, '').slice(0, 64);
}
