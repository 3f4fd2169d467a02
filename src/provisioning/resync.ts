// Telling phones to fetch their file again: a SIP NOTIFY with the vendor's event
// (check-sync, resync …) sent to each registered contact over the flow it registered
// on, so it works behind NAT. Phones that challenge the NOTIFY (Cisco SPA) get the
// authenticated retry with their own line's credentials. Many phones go out in
// batches with jitter, so a thousand phones do not fetch at once. After any change
// that alters a phone's file, the phones whose file changed are resynced.
import type { Logger } from 'pino';
import type { PbxConfig } from '../config/schema.js';
import { addressUri, outOfDialogRequest, type SentBy } from '../sip/requests.js';
import { withAuthenticatedRetry } from '../sip/digest-client.js';
import { requestFinal } from '../sip/uac.js';
import type { SipStack } from '../sip/stack.js';
import { formatHost } from '../sip/uri.js';
import type { ExtensionService } from '../pbx/extensions.js';
import type { Binding, Location } from '../pbx/location.js';
import { flowToBinding } from '../pbx/reach.js';
import type { Device, DeviceService } from './devices.js';
import type { PhoneFiles } from './phone-files.js';
import type { VendorRegistry } from './vendors/index.js';
import { paced } from '../util/paced.js';

export type SyncState = 'in sync' | 'pending' | 'stale' | 'never provisioned' | 'fetched via old port';

export interface ResyncResult {
  mac: string;
  /** Contacts the NOTIFY went to; 0 when the phone is not registered. */
  contacts: number;
  /** Final response per contact (after a digest retry where the phone asked for one). */
  statuses: number[];
  event: string;
}

export class Resync {
  readonly counters = { sent: 0, answered: 0, challenged: 0, failed: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly followUps = new Set<NodeJS.Timeout>();

  constructor(
    private readonly stack: SipStack,
    private readonly location: Location,
    private readonly devices: DeviceService,
    private readonly extensions: ExtensionService,
    private readonly vendors: VendorRegistry,
    private readonly files: PhoneFiles,
    private readonly config: () => PbxConfig,
    private readonly log: Logger,
    /** Our address on a transport (its listener), for Via and Contact. */
    private readonly advertise: (transport: string) => SentBy,
  ) {}

  /**
   * Where a device stands: compares what it last fetched with what it would get now. Its
   * file may need rendering (every phone's does after a config change): on a render
   * thread when there is one, hence the promise.
   */
  state(device: Device): SyncState | Promise<SyncState> {
    if (!device.lastProvisioned) return 'never provisioned';
    if (device.lastFetchLegacy) return 'fetched via old port';
    if (!device.lastFetchHash) return this.unsynced(device);
    const hash = this.files.accountHashSoon(device);
    if (hash instanceof Promise) return hash.then((h) => (h === device.lastFetchHash ? 'in sync' : this.unsynced(device)));
    return hash === device.lastFetchHash ? 'in sync' : this.unsynced(device);
  }

  /** The states of many devices, in their order, without holding the event loop (see util/paced). */
  async states(devices: readonly Device[]): Promise<SyncState[]> {
    const out: SyncState[] = new Array<SyncState>(devices.length);
    let i = 0;
    await paced(devices, (d) => {
      const at = i++;
      const st = this.state(d);
      if (st instanceof Promise) return st.then((s) => void (out[at] = s));
      out[at] = st;
    });
    return out;
  }

  private unsynced(device: Device): SyncState {
    return device.resyncSentAt && device.lastProvisioned && device.resyncSentAt > device.lastProvisioned ? 'pending' : 'stale';
  }

  /** Sends the vendor's sync NOTIFY (or reboot) to every registered contact of the device. */
  async device(device: Device, reboot = false): Promise<ResyncResult> {
    const vendor = this.vendors.get(device.vendor);
    const event = reboot ? (vendor?.resync.reboot ?? 'check-sync;reboot=true') : (vendor?.resync.sync ?? 'check-sync');
    const line = device.lines[0]!;
    const bindings = this.location.lookup(line);
    const statuses = await Promise.all(bindings.map((b) => this.notify(b, event)));
    if (bindings.length) this.devices.recordResync(device.mac);
    this.log.info(
      { mac: device.mac, event, contacts: bindings.length, statuses },
      bindings.length ? `Resync (${event}) sent to ${device.mac} at ${bindings.length} contact(s): ${statuses.join(', ')}` : `Resync for ${device.mac} skipped: extension ${line} is not registered`,
    );
    return { mac: device.mac, contacts: bindings.length, statuses, event };
  }

  /**
   * Resyncs many devices in batches of `provisioning.resync_batch_size`, each batch
   * spread over `provisioning.resync_batch_spread_ms` with random jitter.
   */
  async many(devices: Device[], reboot = false): Promise<ResyncResult[]> {
    const { resync_batch_size: size, resync_batch_spread_ms: spread } = this.config().provisioning;
    const results: ResyncResult[] = [];
    for (let i = 0; i < devices.length; i += size) {
      const batch = devices.slice(i, i + size);
      results.push(
        ...(await Promise.all(
          batch.map(async (d) => {
            await sleep(Math.floor(Math.random() * spread));
            return this.device(d, reboot);
          }),
        )),
      );
    }
    return results;
  }

  /** After a change: resync (soon, once) every registered device whose file changed. */
  scheduleAuto(reason: string): void {
    if (!this.config().provisioning.auto_resync) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.changedFiles().then((changed) => {
        if (changed.length === 0) return;
        this.log.info({ reason, devices: changed.length }, `Files of ${changed.length} device(s) changed (${reason}): resyncing them`);
        return this.many(changed);
      });
    }, 300);
    this.timer.unref();
  }

  /**
   * Provisioned devices whose account file is no longer the one they fetched. Files are
   * made on the render threads (a config change makes every phone's anew: thousands of
   * renders, which on the event loop stalled SIP for seconds), and kept for the phones'
   * fetches that follow. A device that never fetched its account file counts as changed
   * without rendering anything.
   */
  private async changedFiles(): Promise<Device[]> {
    const changed: Device[] = [];
    await paced(this.devices.list(), (d) => {
      if (!d.lastProvisioned) return;
      if (!d.lastFetchHash) return void changed.push(d);
      const hash = this.files.accountHashSoon(d);
      if (hash instanceof Promise) return hash.then((h) => void (h !== d.lastFetchHash && changed.push(d)));
      if (hash !== d.lastFetchHash) changed.push(d);
    });
    return changed;
  }

  /**
   * A phone that fetched through an old port has just learned the new URL: tell it to
   * fetch once more, so its next fetch (over the new port) confirms it moved.
   */
  followUp(device: Device, delayMs = 1500): void {
    const t = setTimeout(() => void this.device(device), delayMs);
    t.unref();
    this.followUps.add(t);
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const t of this.followUps) clearTimeout(t);
  }

  private async notify(b: Binding, event: string): Promise<number> {
    const flow = flowToBinding(this.stack, b);
    if (!flow) {
      this.counters.failed++;
      return 0;
    }
    const us = this.advertise(flow.transport);
    const host = formatHost(us.host);
    const notify = outOfDialogRequest({
      method: 'NOTIFY',
      uri: b.contact,
      from: `sip:${b.aor}@${host}`,
      to: `sip:${b.aor}@${host}`,
      via: us,
      contact: addressUri(us),
      headers: [
        { name: 'event', value: event },
        { name: 'subscription-state', value: 'terminated;reason=timeout' },
      ],
    });
    this.counters.sent++;
    // A phone may want proof the NOTIFY is from its own server (Cisco SPA): answer with its line's credentials.
    const ext = this.extensions.get(b.aor);
    const outcome = await withAuthenticatedRetry((req) => requestFinal(this.stack, req, flow), notify, ext ? { username: b.aor, password: ext.secret } : undefined);
    if (outcome.challenged) this.counters.challenged++;
    return this.tally(outcome.response.status);
  }

  private tally(status: number): number {
    if (status >= 200 && status < 300) this.counters.answered++;
    else this.counters.failed++;
    return status;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
