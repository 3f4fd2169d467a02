// The trunks as the rest of the pbx sees them: the store (settings) and, for each enabled
// trunk that registers, its registration, restarted whenever its settings change (from
// the API, the CLI or another node) and stopped with the pbx.
import { TrunkHealth, type HealthDeps, type HealthStatus } from './health.js';
import { TrunkRegistration, type RegistrationDeps, type RegistrationStatus } from './registration.js';
import type { Trunk, TrunkStore } from './store.js';

export type TrunkState = RegistrationStatus['state'] | 'disabled' | 'ip-authenticated';

export interface TrunkStatus extends Omit<RegistrationStatus, 'state'> {
  state: TrunkState;
  health: HealthStatus;
}

const NO_HEALTH: HealthStatus = { up: null, rttMs: null, checkedAt: null, lastError: null };

export class Trunks {
  private readonly registrations = new Map<string, TrunkRegistration>();
  private readonly health = new Map<string, TrunkHealth>();
  /** Restarts of one trunk run one after another (a stop waits for the provider's answer). */
  private readonly chains = new Map<string, Promise<void>>();
  private running = false;

  constructor(
    readonly store: TrunkStore,
    private readonly deps: RegistrationDeps & Pick<HealthDeps, 'intervalSeconds'>,
  ) {
    store.onChange((name) => {
      if (this.running) this.restart(name);
    });
  }

  /** Registers every enabled registering trunk (once SIP listens). */
  start(): void {
    this.running = true;
    for (const t of this.store.list()) this.restart(t.name);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.chains.values()]);
    for (const h of this.health.values()) h.stop();
    this.health.clear();
    await Promise.all([...this.registrations.values()].map((r) => r.stop()));
    this.registrations.clear();
  }

  /** Registers every trunk again (our address changed: the provider must learn the new Contact). */
  reregisterAll(reason: string): void {
    if (!this.running) return;
    const names = this.store.list().filter((t) => t.enabled && t.register).map((t) => t.name);
    if (names.length > 0) this.deps.log.info({ trunks: names, reason }, `Registering trunk(s) ${names.join(', ')} again: ${reason}`);
    for (const n of names) this.restart(n);
  }

  status(trunk: Trunk): TrunkStatus {
    const r = this.registrations.get(trunk.name);
    const health = { ...(this.health.get(trunk.name)?.status ?? NO_HEALTH) };
    if (r) return { ...r.status, health };
    const state: TrunkState = !trunk.enabled ? 'disabled' : 'ip-authenticated';
    return { state, lastError: null, target: null, registeredUntil: null, failures: 0, nextAttemptAt: null, health };
  }

  private restart(name: string): void {
    const previous = this.chains.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      const old = this.registrations.get(name);
      this.registrations.delete(name);
      this.health.get(name)?.stop();
      this.health.delete(name);
      await old?.stop();
      const t = this.store.get(name);
      if (!this.running || !t || !t.enabled) return;
      const h = new TrunkHealth(t, this.deps);
      this.health.set(name, h);
      h.start();
      if (!t.register) return;
      const r = new TrunkRegistration(t, this.deps);
      this.registrations.set(name, r);
      r.start();
    });
    this.chains.set(name, next);
    void next.finally(() => {
      if (this.chains.get(name) === next) this.chains.delete(name);
    });
  }
}
