// Is the provider there? An OPTIONS to the trunk's first target every
// sip.trunk_options_seconds: any answer (even 404 or 405) means up, with its round-trip
// time; no answer within a few seconds, or a transport error, means down. Each change
// is logged once. The state shows in the API and the CLI beside the registration.
import type { Logger } from 'pino';
import { outOfDialogRequest, type SentBy } from '../../sip/requests.js';
import type { SipStack } from '../../sip/stack.js';
import type { Trunk } from './store.js';
import { flowToTarget, targetName, trunkDomain, type Target } from './targets.js';

export interface HealthStatus {
  /** null until the first answer or timeout. */
  up: boolean | null;
  rttMs: number | null;
  checkedAt: string | null;
  lastError: string | null;
}

export interface HealthDeps {
  stack: SipStack;
  advertise: (transport: string) => SentBy;
  targets: (trunk: Trunk) => Promise<Target[]>;
  /** Seconds between checks (0: none). */
  intervalSeconds: () => number;
  log: Logger;
  /** How long to wait for an answer, ms. */
  timeoutMs?: number;
}

export class TrunkHealth {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly status: HealthStatus = { up: null, rttMs: null, checkedAt: null, lastError: null };

  constructor(
    private readonly trunk: Trunk,
    private readonly d: HealthDeps,
  ) {}

  start(): void {
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    const seconds = this.d.intervalSeconds();
    if (seconds <= 0) return;
    const result = await this.ping().catch((err: Error) => ({ ok: false as const, error: err.message }));
    if (this.stopped) return;
    const was = this.status.up;
    this.status.checkedAt = new Date().toISOString();
    if (result.ok) Object.assign(this.status, { up: true, rttMs: result.rttMs, lastError: null });
    else Object.assign(this.status, { up: false, rttMs: null, lastError: result.error });
    if (was !== this.status.up) {
      if (this.status.up) this.d.log.info({ trunk: this.trunk.name, rtt_ms: this.status.rttMs }, `Trunk ${this.trunk.name}: the provider answers (OPTIONS, ${this.status.rttMs} ms)`);
      else this.d.log.warn({ trunk: this.trunk.name, reason: this.status.lastError }, `Trunk ${this.trunk.name}: the provider does not answer OPTIONS (${this.status.lastError})`);
    }
    this.timer = setTimeout(() => void this.check(), seconds * 1000);
    this.timer.unref();
  }

  private async ping(): Promise<{ ok: true; rttMs: number } | { ok: false; error: string }> {
    const [target] = await this.d.targets(this.trunk);
    if (!target) return { ok: false, error: `${this.trunk.host} has no address` };
    const flow = await flowToTarget(this.d.stack, this.trunk, target);
    if (!flow) return { ok: false, error: 'no UDP listener to send from' };
    const sentBy = this.d.advertise(flow.transport);
    const domain = trunkDomain(this.trunk);
    const request = outOfDialogRequest({ method: 'OPTIONS', uri: `sip:${domain}`, from: `sip:${this.trunk.username ?? 'pbx'}@${domain}`, via: sentBy, headers: [{ name: 'max-forwards', value: '70' }] });
    const name = targetName(target);
    const started = performance.now();
    return new Promise((resolve) => {
      const timeout = setTimeout(() => resolve({ ok: false, error: `${name}: no answer within ${(this.d.timeoutMs ?? 3000) / 1000} s` }), this.d.timeoutMs ?? 3000);
      const done = (r: { ok: true; rttMs: number } | { ok: false; error: string }) => {
        clearTimeout(timeout);
        resolve(r);
      };
      this.d.stack.sendRequest(request, flow, {
        response: (res) => {
          if (res.status >= 200) done({ ok: true, rttMs: Math.round((performance.now() - started) * 10) / 10 });
        },
        timeout: () => done({ ok: false, error: `${name}: no answer` }),
        transportError: () => done({ ok: false, error: `${name}: could not send` }),
      });
    });
  }
}
