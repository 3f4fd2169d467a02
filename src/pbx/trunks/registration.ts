// A trunk's registration with its provider (RFC 3261 §10.2): REGISTER to the provider's
// targets in turn (the next on a timeout, a transport error or a 5xx), the challenge
// answered with the trunk's credentials, refreshed before the granted expiry with the
// same Call-ID and a growing CSeq (§10.2.4), a 423 answered with its Min-Expires; on
// failure, tried again after 30 s, doubling up to 10 minutes (RFC 5626 §4.5's backoff).
// State and last error are kept for the API, CLI and `pbx doctor`.
import type { Logger } from 'pino';
import { authorizationFor, challengeHeaders } from '../../sip/digest-client.js';
import { newCallId } from '../../sip/ids.js';
import type { SipRequest, SipResponse } from '../../sip/message.js';
import { addressUri, outOfDialogRequest, resend, type SentBy } from '../../sip/requests.js';
import type { SipStack } from '../../sip/stack.js';
import type { Flow } from '../../sip/transport.js';
import { requestFinal } from '../../sip/uac.js';
import type { Trunk } from './store.js';
import { flowToTarget, providerFault, targetName, trunkDomain, type Target } from './targets.js';

export type RegistrationState = 'registering' | 'registered' | 'failed' | 'stopped';

export interface RegistrationStatus {
  state: RegistrationState;
  /** Why the last attempt failed (the provider's status and reason, or what went wrong). */
  lastError: string | null;
  /** Where the registration went (transport:address:port). */
  target: string | null;
  registeredUntil: string | null;
  /** Failed attempts in a row; the next one comes at `nextAttemptAt`. */
  failures: number;
  nextAttemptAt: string | null;
}

export interface RegistrationDeps {
  stack: SipStack;
  /** Our address as the provider must see it (server.external_ip and the transport's port). */
  advertise: (transport: string) => SentBy;
  targets: (trunk: Trunk) => Promise<Target[]>;
  log: Logger;
  /** First retry after a failure, ms (doubles up to 20 times this). */
  retryBaseMs?: number;
}

export class TrunkRegistration {
  private readonly callId: string;
  private cseq = 1;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private expires: number;
  private registeredVia: { flow: Flow; target: Target } | null = null;
  readonly status: RegistrationStatus = { state: 'registering', lastError: null, target: null, registeredUntil: null, failures: 0, nextAttemptAt: null };

  constructor(
    private readonly trunk: Trunk,
    private readonly deps: RegistrationDeps,
  ) {
    this.callId = newCallId(deps.advertise(trunk.transport).host);
    this.expires = trunk.expirySeconds;
  }

  start(): void {
    void this.attempt();
  }

  /** Stops refreshing; a registration in place is removed at the provider (Expires: 0), waited for at most a few seconds. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const was = this.registeredVia;
    this.registeredVia = null;
    this.status.state = 'stopped';
    this.status.nextAttemptAt = null;
    if (was) {
      await Promise.race([this.register(was.flow, 0).catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
      this.deps.log.info({ trunk: this.trunk.name }, `Trunk ${this.trunk.name}: unregistered`);
    }
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const t = this.trunk;
    this.status.state = this.status.state === 'registered' ? 'registered' : 'registering';
    let targets: Target[];
    try {
      targets = await this.deps.targets(t);
      if (targets.length === 0) throw new Error(`${t.host} has no address`);
    } catch (err) {
      return this.failed(`DNS: ${(err as Error).message}`);
    }
    let last = '';
    for (const target of targets) {
      if (this.stopped) return;
      const name = targetName(target);
      let flow: Flow | undefined;
      try {
        flow = await flowToTarget(this.deps.stack, this.trunk, target);
      } catch (err) {
        last = `${name}: ${(err as Error).message}`;
        continue;
      }
      if (!flow) {
        last = `no ${target.transport.toUpperCase()} listener to send from`;
        continue;
      }
      let response = await this.register(flow, this.expires);
      if (response.status === 423) {
        // §10.3 step 7: the registrar wants a longer interval; ask once more with its minimum.
        const min = Number(response.get('min-expires'));
        if (Number.isInteger(min) && min > this.expires && min <= 86_400) {
          this.expires = min;
          response = await this.register(flow, this.expires);
        }
      }
      if (this.stopped) return;
      if (response.status >= 200 && response.status < 300) return this.registered(flow, target, response);
      last = `${name}: ${response.status} ${response.reason}`;
      if (!providerFault(response.status)) break; // the provider refused (wrong credentials, forbidden): other targets would too
    }
    this.failed(last);
  }

  /** One REGISTER (and its answer to a challenge), with our Call-ID and the next CSeq. */
  private async register(flow: Flow, expires: number): Promise<SipResponse> {
    const t = this.trunk;
    const sentBy = this.deps.advertise(flow.transport);
    const domain = trunkDomain(t);
    const aor = `sip:${t.username}@${domain}`;
    const request = outOfDialogRequest({
      method: 'REGISTER',
      uri: `sip:${domain}`,
      from: aor,
      to: aor,
      via: sentBy,
      callId: this.callId,
      cseq: this.cseq++,
      contact: addressUri(sentBy, t.contactUser ?? t.username ?? undefined),
      headers: [
        { name: 'expires', value: String(expires) },
        { name: 'max-forwards', value: '70' },
      ],
    });
    const send = (r: SipRequest) => requestFinal(this.deps.stack, r, flow);
    const first = await send(request);
    if (!challengeHeaders(first.status)) return first;
    const realm = /realm\s*=\s*"([^"]*)"/i.exec(first.getAll(first.status === 401 ? 'www-authenticate' : 'proxy-authenticate').join(','))?.[1];
    if (t.realm && realm !== t.realm) return withReason(first, `challenge for realm "${realm ?? ''}", trunk expects "${t.realm}"`);
    const header = authorizationFor(request, first, { username: t.authUsername ?? t.username ?? '', password: t.password ?? '' });
    if (!header) return withReason(first, 'a challenge this client cannot answer');
    const retry = resend(request, [header], this.cseq++);
    const second = await send(retry);
    return challengeHeaders(second.status) ? withReason(second, 'credentials refused') : second;
  }

  private registered(flow: Flow, target: Target, response: SipResponse): void {
    const granted = grantedExpiry(response, this.expires);
    const first = this.status.state !== 'registered';
    Object.assign(this.status, {
      state: 'registered',
      lastError: null,
      target: targetName(target),
      registeredUntil: new Date(Date.now() + granted * 1000).toISOString(),
      failures: 0,
    });
    this.registeredVia = { flow, target };
    // Refresh ahead of the expiry: at 90 % of it, and at least 5 s before.
    const refreshIn = Math.max(1, Math.min(granted * 0.9, granted - 5));
    this.schedule(refreshIn * 1000);
    if (first) this.deps.log.info({ trunk: this.trunk.name, target: this.status.target, expires: granted }, `✓ Trunk ${this.trunk.name} registered with ${this.trunk.host} (${this.status.target}, ${granted} s)`);
  }

  private failed(reason: string): void {
    if (this.stopped) return;
    this.status.failures++;
    const base = this.deps.retryBaseMs ?? 30_000;
    const wait = Math.min(base * 2 ** (this.status.failures - 1), base * 20);
    Object.assign(this.status, { state: 'failed', lastError: reason, registeredUntil: null });
    this.registeredVia = null;
    this.schedule(wait);
    this.deps.log.warn(
      { trunk: this.trunk.name, failures: this.status.failures, retry_seconds: Math.round(wait / 1000), reason },
      `Trunk ${this.trunk.name}: registration failed (${reason}); trying again in ${Math.round(wait / 1000)} s`,
    );
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.status.nextAttemptAt = new Date(Date.now() + ms).toISOString();
    this.timer = setTimeout(() => void this.attempt(), ms);
    this.timer.unref();
  }
}

/** §10.2.4: the expiry the registrar granted our contact (its expires parameter), else Expires, else what we asked. */
function grantedExpiry(response: SipResponse, asked: number): number {
  for (const c of response.getAll('contact')) {
    const m = /;\s*expires\s*=\s*(\d+)/i.exec(c);
    if (m) return Math.max(1, Number(m[1]));
  }
  const e = Number(response.get('expires'));
  return Number.isInteger(e) && e > 0 ? e : asked;
}

/** The response with why we stop at it added to its reason (for the status and the log). */
function withReason(response: SipResponse, why: string): SipResponse {
  response.reason = `${response.reason} (${why})`;
  return response;
}
