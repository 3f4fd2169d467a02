// Telling phones to fetch their file again: a SIP NOTIFY with the vendor's event
// (check-sync, resync …) sent to each registered contact over the flow it registered
// on, so it works behind NAT. Phones that challenge the NOTIFY (Cisco SPA) get the
// authenticated retry with their own line's credentials. Many phones go out in
// batches with jitter, so a thousand phones do not fetch at once. After any change
// that alters a phone's file, the phones whose file changed are resynced.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { PbxConfig } from '../config/schema.js';
import { makeResponse, SipRequest, type SipResponse } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import { formatHost } from '../sip/uri.js';
import { parseCredentials } from '../sip/header-values.js';
import { digestResponse, ha1, parseAlgorithm } from '../sip/digest.js';
import type { ExtensionService } from '../pbx/extensions.js';
import type { Binding, Location } from '../pbx/location.js';
import { flowToBinding } from '../pbx/reach.js';
import type { Device, DeviceService } from './devices.js';
import type { PhoneFiles } from './phone-files.js';
import type { VendorRegistry } from './vendors/index.js';

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
  ) {}

  /** Where a device stands: compares what it last fetched with what it would get now. */
  state(device: Device): SyncState {
    if (!device.lastProvisioned) return 'never provisioned';
    if (device.lastFetchLegacy) return 'fetched via old port';
    if (device.lastFetchHash && device.lastFetchHash === this.files.accountHash(device)) return 'in sync';
    if (device.resyncSentAt && device.resyncSentAt > device.lastProvisioned) return 'pending';
    return 'stale';
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
      const changed = this.devices.list().filter((d) => d.lastProvisioned && d.lastFetchHash !== this.files.accountHash(d));
      if (changed.length === 0) return;
      this.log.info({ reason, devices: changed.length }, `Files of ${changed.length} device(s) changed (${reason}): resyncing them`);
      void this.many(changed);
    }, 300);
    this.timer.unref();
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
    const c = this.config();
    const host = formatHost(c.server.external_ip);
    const callId = `${randomBytes(8).toString('hex')}@${c.server.external_ip}`;
    const fromTag = randomBytes(4).toString('hex');
    const build = (cseq: number, auth?: string) =>
      new SipRequest('NOTIFY', b.contact, [
        { name: 'via', value: `SIP/2.0/${flow.transport.toUpperCase()} ${host}:${c.server.sip_port};branch=${this.stack.newBranch()};rport` },
        { name: 'max-forwards', value: '70' },
        { name: 'from', value: `<sip:${b.aor}@${host}>;tag=${fromTag}` },
        { name: 'to', value: `<sip:${b.aor}@${host}>` },
        { name: 'call-id', value: callId },
        { name: 'cseq', value: `${cseq} NOTIFY` },
        { name: 'contact', value: `<sip:${host}:${c.server.sip_port}>` },
        { name: 'event', value: event },
        { name: 'subscription-state', value: 'terminated;reason=timeout' },
        ...(auth ? [{ name: 'authorization', value: auth }] : []),
      ]);
    this.counters.sent++;
    const first = await this.send(build(1), flow);
    if (first.status !== 401 && first.status !== 407) return this.tally(first.status);
    // The phone wants proof the NOTIFY is from its own server (Cisco SPA): answer with its line's credentials.
    this.counters.challenged++;
    const ext = this.extensions.get(b.aor);
    const header = first.status === 401 ? 'www-authenticate' : 'proxy-authenticate';
    const challenge = first.get(header);
    if (!ext || !challenge) return this.tally(first.status);
    const auth = answerChallenge(challenge, b.aor, ext.secret, 'NOTIFY', b.contact);
    if (!auth) return this.tally(first.status);
    const second = await this.send(build(2, auth), flow);
    return this.tally(second.status);
  }

  private tally(status: number): number {
    if (status >= 200 && status < 300) this.counters.answered++;
    else this.counters.failed++;
    return status;
  }

  private send(req: SipRequest, flow: NonNullable<ReturnType<typeof flowToBinding>>): Promise<SipResponse> {
    return new Promise((ok) => {
      this.stack.sendRequest(req, flow, {
        response: (res) => {
          if (res.status >= 200) ok(res);
        },
        timeout: () => ok(makeResponse(req, 408)),
        transportError: () => ok(makeResponse(req, 503)),
      });
    });
  }
}

/** An Authorization value answering a digest challenge (RFC 7616), or null if unsupported. */
export function answerChallenge(challenge: string, user: string, password: string, method: string, uri: string): string | null {
  const p = parseCredentials(challenge).params;
  const algorithm = parseAlgorithm(p.get('algorithm'));
  const realm = p.get('realm') ?? '';
  const nonce = p.get('nonce') ?? '';
  if (!algorithm || !nonce) return null;
  const qops = (p.get('qop') ?? '').split(',').map((q) => q.trim());
  const qop = qops.includes('auth') ? 'auth' : undefined;
  const cnonce = randomBytes(8).toString('hex');
  const nc = '00000001';
  const response = digestResponse({ algorithm, ha1: ha1(algorithm, user, realm, password), method, uri, nonce, qop, nc, cnonce });
  const opaque = p.get('opaque');
  return (
    `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}` +
    (qop ? `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"` : '') +
    (opaque ? `, opaque="${opaque}"` : '')
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
