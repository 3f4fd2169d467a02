// `server.external_ip: auto`: the public address is asked of STUN servers
// (server.stun_servers, the first that answers) at start and every
// server.stun_interval_seconds. A new answer is applied like any config change (SDP,
// Via and Contact, phone files and their resync, trunk registrations follow the running
// config). With no answer the last known address stays; before the first one, the
// host's own LAN address stands in.
import type { Logger } from 'pino';
import { stunBinding, type MappedAddress } from '../util/stun.js';

export interface PublicAddressOptions {
  servers: () => string[];
  intervalSeconds: () => number;
  /** The address used until STUN has answered once. */
  fallback: () => string;
  /** A new public address (not called for the first one found at start). */
  onChange: (address: string, previous: string) => void | Promise<void>;
  log: Logger;
  /** Asks one server (tests, other transports). */
  ask?: (server: string) => Promise<MappedAddress>;
}

export interface PublicAddressStatus {
  address: string;
  /** The server that answered last, and when (null: none yet). */
  server: string | null;
  checkedAt: string | null;
  lastError: string | null;
}

export class PublicAddress {
  private known: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private state: Omit<PublicAddressStatus, 'address'> = { server: null, checkedAt: null, lastError: null };

  constructor(private readonly o: PublicAddressOptions) {}

  /** The public address now (the fallback until STUN answered once). */
  get current(): string {
    return this.known ?? this.o.fallback();
  }

  get status(): PublicAddressStatus {
    return { address: this.current, ...this.state };
  }

  /** Asks once (at start, before the listeners open), then every interval. */
  async start(): Promise<void> {
    await this.check(true);
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.check(false).finally(() => this.timer && this.schedule()), this.o.intervalSeconds() * 1000);
    this.timer.unref();
  }

  /** Asks the servers in turn; the first answer wins. */
  async check(first = false): Promise<void> {
    const ask = this.o.ask ?? ((s: string) => stunBinding(s));
    const errors: string[] = [];
    for (const server of this.o.servers()) {
      let mapped: MappedAddress;
      try {
        mapped = await ask(server);
      } catch (err) {
        errors.push((err as Error).message);
        continue;
      }
      this.state = { server, checkedAt: new Date().toISOString(), lastError: null };
      const previous = this.known;
      this.known = mapped.address;
      if (previous === null) {
        this.o.log.info({ address: mapped.address, stun_server: server }, `Public address ${mapped.address} (server.external_ip: auto, from STUN server ${server})`);
        if (!first && mapped.address !== this.o.fallback()) await this.o.onChange(mapped.address, this.o.fallback());
      } else if (previous !== mapped.address) {
        this.o.log.warn({ address: mapped.address, previous, stun_server: server }, `Public address changed: ${previous} → ${mapped.address} (STUN server ${server}); applying it`);
        await this.o.onChange(mapped.address, previous);
      }
      return;
    }
    this.state = { ...this.state, lastError: errors.join('; ') || 'server.stun_servers is empty' };
    this.o.log.warn({ errors, address: this.current }, `No STUN server answered (${this.state.lastError}); keeping ${this.current} as the public address`);
  }
}
