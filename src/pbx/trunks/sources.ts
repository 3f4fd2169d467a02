// Which trunk a request comes from, by its source address: the trunk's allowed_addresses
// (addresses or CIDR ranges) when it has them, else the addresses its host resolves to
// (the targets calls and registrations go to). Kept in memory, rebuilt when a trunk
// changes and every few minutes (DNS answers change); looked up without waiting.
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Trunk, TrunkStore } from './store.js';
import type { Target } from './targets.js';

const REFRESH_MS = 5 * 60_000;

export class TrunkSources {
  private lists: { trunk: string; list: BlockList }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;

  constructor(
    private readonly store: TrunkStore,
    private readonly targets: (t: Trunk) => Promise<Target[]>,
    private readonly log: Logger,
  ) {
    store.onChange(() => void this.rebuild());
  }

  async start(): Promise<void> {
    await this.rebuild();
    this.timer = setInterval(() => void this.rebuild(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The enabled trunk `ip` belongs to, if any (the first by priority). */
  trunkAt(ip: string): Trunk | undefined {
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    for (const { trunk, list } of this.lists) {
      if (list.check(ip, family)) return this.store.get(trunk);
    }
    return undefined;
  }

  private async rebuild(): Promise<void> {
    const generation = ++this.generation;
    const lists: { trunk: string; list: BlockList }[] = [];
    for (const t of this.store.list()) {
      if (!t.enabled) continue;
      const list = new BlockList();
      let addresses = t.allowedAddresses;
      if (addresses.length === 0) {
        try {
          addresses = [...new Set((await this.targets(t)).map((x) => x.address))];
        } catch (err) {
          this.log.warn({ trunk: t.name, err: (err as Error).message }, `Trunk ${t.name}: its host ${t.host} does not resolve, so no inbound call is taken from it until it does`);
          addresses = [];
        }
      }
      for (const entry of addresses) {
        const [addr = '', bits] = entry.split('/');
        const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
        if (!isIP(addr)) continue;
        if (bits === undefined) list.addAddress(addr, family);
        else list.addSubnet(addr, Number(bits), family);
      }
      lists.push({ trunk: t.name, list });
    }
    // A slower rebuild that started earlier must not overwrite a newer one.
    if (generation === this.generation) this.lists = lists;
  }
}
