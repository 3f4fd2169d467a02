// Turns a requested file name into the bytes a phone gets, in two steps the provisioning
// pipeline keeps apart: `match` decides once what the name is (which vendor rule, which
// device, which model) without rendering anything; `render` makes the file for a match
// the request is allowed to have. Matches of servable names and rendered files are
// remembered until something they depend on (device, extension, config, template) changes.
import type { PbxConfig } from '../config/schema.js';
import type { ExtensionService } from '../pbx/extensions.js';
import { createHash } from 'node:crypto';
import { formatMac, normalizeMac } from '../util/mac.js';
import { commonContext, deviceOwnContext, withShared, type CommonContext, type DeviceOwnContext, type LineContext } from './context.js';
import { deriveConfigUrl, provisioningEndpoint } from './config-url.js';
import type { Device, DeviceService } from './devices.js';
import type { FetchOutcome } from './fetch-outcomes.js';
import { TemplateCatalog, type LoadedTemplate } from './templates.js';
import { RenderError, type RenderThreads } from './render-threads.js';
import type { UploadStore } from './uploads.js';
import type { FileMatch, VendorRegistry } from './vendors/index.js';
import type { FileRule, ModelInfo, VendorProfile } from './vendors/types.js';

/** A file name this server can make a file for: the one result of matching it. */
export interface MatchedFile {
  outcome: 'matched';
  fileName: string;
  vendor: VendorProfile;
  rule: FileRule;
  /** The model ids the name stands for: a common file's (may be none), or the device's. */
  models: string[];
  /** The model the file is rendered for: the device's, or the first of `models`. */
  model: ModelInfo | undefined;
  /** Per-device files: the device the MAC in the name selects. */
  device?: Device;
  mac?: string;
  /** True for the device's account file, whose hash is its sync state. */
  account: boolean;
  /** The file once rendered; kept with the remembered match, so a repeat costs one lookup. */
  rendered?: RenderedFile;
  /** The firmware answer `rendered` was made for (see VendorProfile.firmwareVars). */
  renderedFor?: string;
}

/** A file name that names nothing this server can make (the outcome says why). */
export interface UnmatchedFile {
  outcome: 'placeholder' | 'malformed_mac' | 'unknown_file' | 'unknown_device' | 'wrong_vendor_file';
  status: 400 | 404;
  fileName: string;
  /** What the admin needs to know (goes to the log, never to the phone). */
  detail?: string;
  mac?: string;
  /** unknown_device: the vendor the MAC's OUI suggests; wrong_vendor_file: the device's. */
  vendor?: VendorProfile;
  device?: Device;
  model?: ModelInfo;
}

export type NameMatch = MatchedFile | UnmatchedFile;

/** A device's rendered file is kept by its template and what the vendor says of its firmware. */
const deviceCacheKey = (rule: FileRule, fw: Firmware): string => `${rule.template}|${fw.key}`;

interface Firmware {
  version: string | undefined;
  key: string;
}

export interface RenderedFile {
  outcome: 'delivered';
  status: 200;
  body: string;
  /** SHA-256 of the body, for device files (sync state). */
  hash?: string;
  contentType: string;
}

export interface RenderFailure {
  outcome: 'template_not_found' | 'extension_not_found' | 'render_error' | 'not_uploaded';
  status: 404 | 500;
  detail?: string;
  /** The missing extension, for extension_not_found. */
  extension?: string;
}

/** Match and render together, for admin tools (`pbx provision render`, previews, sync state). */
export interface ResolvedFile {
  outcome: FetchOutcome;
  status: number;
  fileName: string;
  mac?: string;
  vendor?: VendorProfile;
  model?: string;
  device?: Device;
  rule?: FileRule;
  body?: string;
  hash?: string;
  contentType?: string;
  detail?: string;
  extension?: string;
}

// A provisioning URL the phone did not expand: {mac}, {{mac}}, $mac, $MA, $MAU, ${mac}, %7Bmac%7D …
const PLACEHOLDER = /\{+\s*mac\s*\}+|\$\{?(mac|mau|ma)\b\}?|\[PHONE_MAC_ADDRESS\]/i;
// A name that was meant to be a MAC: hex digits and separators only.
const MAC_ATTEMPT = /^([0-9a-f]{2}[:\-.]?){3,}[0-9a-f]*$|^([0-9a-z]{2}[:\-]){4,5}[0-9a-z]{1,2}$/i;
const WITH_SEPARATORS = /^(?<base>[0-9a-f]{2}([:\-][0-9a-f]{2}){5}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})(?<rest>[.\-].*)$/i;

export class PhoneFiles {
  private readonly rendered = new Map<string, Map<string, { body: string; hash: string }>>();
  private readonly common = new Map<string, string>();
  private readonly urls = new Map<string, string>();
  /** Whether an extension has a mailbox (set by the composition root; files name the voicemail number only then). */
  hasMailbox: (extension: string) => boolean = () => false;
  /** Matches by requested file name: a phone asks for the same names again and again. */
  private readonly matches = new Map<string, MatchedFile>();
  /** Render threads (set by the composition root from provisioning.render_threads); null renders inline. */
  threads: RenderThreads | null = null;
  /** Device files being rendered on a thread, by device and cache key. */
  private readonly inFlight = new Map<string, Promise<RenderedFile | RenderFailure>>();
  /** Moves whenever a rendered file may have gone stale: a render begun before is not kept. */
  private epoch = 0;

  constructor(
    private readonly config: () => PbxConfig,
    private readonly vendors: VendorRegistry,
    private readonly templates: TemplateCatalog,
    private readonly devices: DeviceService,
    private readonly extensions: ExtensionService,
    readonly uploads: UploadStore,
  ) {
    devices.onChange((mac) => {
      this.stale();
      this.rendered.delete(mac);
      this.urls.delete(mac);
      this.matches.clear();
      this.tellForgotten(mac);
    });
    extensions.onChange((number) => {
      this.stale();
      const using = devices.usingExtension(number);
      for (const d of using) this.rendered.delete(d.mac);
      this.matches.clear();
      for (const d of using) this.tellForgotten(d.mac);
    });
  }

  /** Forget every rendered file: the config or a template changed. */
  invalidateAll(): void {
    this.stale();
    this.commons.clear();
    this.rendered.clear();
    this.common.clear();
    this.urls.clear();
    this.matches.clear();
    this.tellForgotten(null);
  }

  private readonly forgottenListeners: ((mac: string | null) => void)[] = [];

  /** Told after a device's files (a MAC) or every file (null) were forgotten. */
  onForgotten(listener: (mac: string | null) => void): void {
    this.forgottenListeners.push(listener);
  }

  private tellForgotten(mac: string | null): void {
    for (const l of this.forgottenListeners) l(mac);
  }

  /**
   * Makes the files a device's phone fetches at boot (its vendor's boot sequence), for the
   * firmware it last announced, and keeps them as a fetch would: nothing is recorded and no
   * one is asked for a credential. A promise while a render thread works on them.
   */
  prepare(device: Device): Promise<unknown> | undefined {
    const vendor = this.vendors.get(device.vendor);
    const model = vendor && this.vendors.model(vendor.id, device.model);
    if (!vendor || !model) return undefined;
    let pending: Promise<unknown>[] | undefined;
    for (const name of vendor.bootSequence(model, formatMac(device.mac, vendor.macForm))) {
      const m = this.match(name);
      if (m.outcome !== 'matched' || m.rule.kind === 'upload') continue;
      const r = this.renderSoon(m);
      if (r instanceof Promise) (pending ??= []).push(r);
    }
    return pending && Promise.all(pending);
  }

  /** Whether the device's account file, for the firmware it last announced, is made and kept. */
  isPrepared(device: Device): boolean {
    const fileName = this.accountFileName(device);
    const m = fileName === undefined ? undefined : this.match(fileName);
    if (m?.outcome !== 'matched' || !m.device) return false;
    return this.rendered.get(device.mac)?.has(deviceCacheKey(m.rule, this.firmwareFor(m, undefined))) ?? false;
  }

  private stale(): void {
    this.epoch++;
    this.inFlight.clear();
  }

  /** The live config URL of a device (never a stored one); remembered until the config or device changes. */
  configUrl(device: Device): string {
    let url = this.urls.get(device.mac);
    if (url === undefined) {
      const vendor = this.vendors.get(device.vendor);
      url = deriveConfigUrl(this.config(), device.mac, vendor?.macForm ?? 'lower', device.listener);
      this.urls.set(device.mac, url);
    }
    return url;
  }

  /** What a requested file name is, decided once; nothing is rendered. */
  match(fileName: string): NameMatch {
    const known = this.matches.get(fileName);
    if (known) return known;
    const m = this.matchAnew(fileName);
    // Only servable names are kept (a scanner's are not): at most a few per device.
    if (m.outcome === 'matched') {
      if (this.matches.size >= 100_000) this.matches.clear();
      this.matches.set(fileName, m);
    }
    return m;
  }

  /**
   * The file for a match, from the cache when nothing it depends on changed. `firmware` is the
   * version the requesting phone announced; without it, the device's last known one.
   */
  render(m: MatchedFile, firmware?: string): RenderedFile | RenderFailure {
    return this.make(m, firmware, null) as RenderedFile | RenderFailure;
  }

  /**
   * As `render`, but a device file not rendered yet is made on a render thread when there
   * are any (provisioning.render_threads): the answer is then a promise. Phones asking for
   * the same file meanwhile wait for the same render. A file whose device, extension,
   * config or template changed while it was rendered is served to the phones that asked
   * before the change, and not kept.
   */
  renderSoon(m: MatchedFile, firmware?: string): RenderedFile | RenderFailure | Promise<RenderedFile | RenderFailure> {
    return this.make(m, firmware, this.threads);
  }

  private make(m: MatchedFile, firmware: string | undefined, threads: RenderThreads | null): RenderedFile | RenderFailure | Promise<RenderedFile | RenderFailure> {
    // A file the phone uploaded is served as it sent it: read each time, never cached.
    if (m.rule.kind === 'upload') return this.uploaded(m);
    const fw = this.firmwareFor(m, firmware);
    if (m.rendered && m.renderedFor === fw.key) return m.rendered;
    const r = !m.device ? this.renderCommon(m, fw) : threads ? this.renderDeviceOn(threads, m, m.device, fw, firmware) : this.renderDevice(m, m.device, fw);
    if (!(r instanceof Promise)) return this.remember(m, fw, r);
    const epoch = this.epoch;
    return r.then((done) => (this.epoch === epoch ? this.remember(m, fw, done) : done));
  }

  /** A delivered file is kept with its remembered match, for the firmware it was made for. */
  private remember(m: MatchedFile, fw: Firmware, r: RenderedFile | RenderFailure): RenderedFile | RenderFailure {
    if (r.outcome === 'delivered') {
      m.rendered = r;
      m.renderedFor = fw.key;
    }
    return r;
  }

  private uploaded(m: MatchedFile): RenderedFile | RenderFailure {
    const body = m.device && m.mac ? this.uploads.read(m.mac, m.fileName.toLowerCase()) : undefined;
    if (!body) return { outcome: 'not_uploaded', status: 404, detail: 'the phone has not uploaded this file' };
    return { outcome: 'delivered', status: 200, body: body.toString('utf8'), contentType: m.rule.contentType };
  }

  /** The firmware a file is made for, and the cache key of what the vendor says of it. */
  private firmwareFor(m: MatchedFile, announced: string | undefined): Firmware {
    const ua = m.device?.lastUserAgent;
    const version = announced ?? (ua ? this.vendors.identify(ua)?.firmware : undefined);
    if (!m.vendor.firmwareVars) return { version, key: '' };
    // Phones announce a handful of versions; each is judged once, not on every request.
    const memoKey = `${m.vendor.id}|${version ?? ''}`;
    let fw = this.firmwares.get(memoKey);
    if (!fw) {
      if (this.firmwares.size >= 10_000) this.firmwares.clear();
      fw = { version, key: JSON.stringify(m.vendor.firmwareVars(version)) };
      this.firmwares.set(memoKey, fw);
    }
    return fw;
  }

  private readonly firmwares = new Map<string, Firmware>();

  /** Match and render without asking who wants the file: admin tools only, never a phone's request. */
  resolve(fileName: string): ResolvedFile {
    const m = this.match(fileName);
    if (m.outcome !== 'matched') return { ...m, model: m.model?.id };
    const { models: _models, account: _account, rendered: _rendered, ...found } = m;
    return { ...found, model: m.model?.id, ...this.render(m) };
  }

  /**
   * Hash of the account file the device would get now (null when it cannot be rendered),
   * rendered on a render thread when there is one and the file is not made yet.
   */
  accountHashSoon(device: Device): string | null | Promise<string | null> {
    const fileName = this.accountFileName(device);
    const m = fileName === undefined ? undefined : this.match(fileName);
    if (m?.outcome !== 'matched') return null;
    const r = this.renderSoon(m);
    if (r instanceof Promise) return r.then((done) => (done.outcome === 'delivered' ? (done.hash ?? null) : null));
    return r.outcome === 'delivered' ? (r.hash ?? null) : null;
  }

  /** The per-device file with the SIP account, as `pbx provision render` prints it. */
  renderDeviceFile(device: Device): ResolvedFile {
    const fileName = this.accountFileName(device);
    if (fileName === undefined) return { outcome: 'unknown_device', status: 404, fileName: '', mac: device.mac };
    return this.resolve(fileName);
  }

  /** The name of the device's account file in its vendor's form (undefined: no such vendor). */
  private accountFileName(device: Device): string | undefined {
    const vendor = this.vendors.get(device.vendor);
    return vendor?.deviceFile(formatMac(device.mac, vendor.macForm));
  }

  private matchAnew(fileName: string): NameMatch {
    if (PLACEHOLDER.test(fileName)) {
      return { outcome: 'placeholder', status: 400, fileName, detail: 'the phone requested a literal MAC placeholder' };
    }
    let matches = this.vendors.matchFile(fileName);
    let canonical = fileName;
    if (matches.length === 0) {
      // 00:15:65:aa:bb:cc.cfg, 0015.65aa.bbcc.cfg …: the same file as 001565aabbcc.cfg.
      const sep = WITH_SEPARATORS.exec(fileName);
      const mac = sep?.groups ? normalizeMac(sep.groups.base!) : null;
      if (mac) {
        canonical = mac + sep!.groups!.rest!;
        matches = this.vendors.matchFile(canonical);
      }
    }
    if (matches.length === 0) {
      const base = fileName.replace(/\.[a-z]+$/i, '');
      if (MAC_ATTEMPT.test(base) && !normalizeMac(base)) {
        return { outcome: 'malformed_mac', status: 400, fileName, detail: `"${base}" is not a valid MAC address` };
      }
      return { outcome: 'unknown_file', status: 404, fileName, detail: 'no phone vendor uses this file name' };
    }
    const common = matches.find((m) => m.rule.kind === 'common');
    if (common) {
      const models = common.rule.modelsFromMatch?.(common.match) ?? [];
      const model = models[0] ? this.vendors.model(common.vendor.id, models[0]) : undefined;
      return { outcome: 'matched', fileName, vendor: common.vendor, rule: common.rule, models, model, account: false };
    }
    return this.matchDevice(fileName, canonical, matches);
  }

  private matchDevice(fileName: string, canonical: string, matches: FileMatch[]): NameMatch {
    const mac = normalizeMac(matches[0]!.match.groups?.mac ?? '');
    if (!mac) return { outcome: 'malformed_mac', status: 400, fileName, detail: 'no MAC in the file name' };
    const device = this.devices.get(mac);
    if (!device) {
      return { outcome: 'unknown_device', status: 404, fileName, mac, vendor: this.vendors.byOui(formatMac(mac, 'colon-upper').slice(0, 8)) };
    }
    const vendor = this.vendors.get(device.vendor)!;
    const model = this.vendors.model(vendor.id, device.model)!;
    const accountFile = vendor.deviceFile(formatMac(mac, vendor.macForm));
    let rule = matches.find((m) => m.vendor.id === vendor.id)?.rule;
    // The generic /provision/<mac>.cfg of url_format: this vendor's account file.
    if (!rule && canonical.toLowerCase() === `${mac}.cfg`) rule = vendor.files.find((r) => r.pattern.test(accountFile));
    if (!rule) {
      return { outcome: 'wrong_vendor_file', status: 404, fileName, mac, device, vendor, model, detail: `${fileName} is not a ${vendor.name} file` };
    }
    return { outcome: 'matched', fileName, vendor, rule, models: [model.id], model, device, mac, account: rule.pattern.test(accountFile) };
  }

  private renderCommon(m: MatchedFile, fw: Firmware): RenderedFile | RenderFailure {
    const key = `${m.vendor.id}|${m.model?.id ?? ''}|${m.rule.template}|${fw.key}`;
    let body = this.common.get(key);
    if (body === undefined) {
      const tpl = this.templates.get(m.vendor, m.model?.id, m.rule.template);
      if (!tpl) return { outcome: 'template_not_found', status: 404, detail: m.rule.template };
      const ctx = commonContext(this.config(), m.vendor, provisioningEndpoint(this.config()), m.model, fw.version);
      try {
        body = tpl.engine.renderSync(tpl.parsed, ctx) as string;
      } catch (err) {
        return { outcome: 'render_error', status: 500, detail: (err as Error).message };
      }
      this.common.set(key, body);
    }
    return { outcome: 'delivered', status: 200, body, contentType: m.rule.contentType };
  }

  private renderDevice(m: MatchedFile, device: Device, fw: Firmware): RenderedFile | RenderFailure {
    const job = this.deviceJob(m, device, fw);
    if (job.outcome !== 'to_render') return job;
    let body: string;
    try {
      body = job.tpl.engine.renderSync(job.tpl.parsed, withShared(job.shared, job.own)) as string;
    } catch (err) {
      return { outcome: 'render_error', status: 500, detail: (err as Error).message };
    }
    return this.keep(device, job.cacheKey, body, createHash('sha256').update(body).digest('hex'), m.rule.contentType);
  }

  /** What rendering a device file takes (template and context), or its cached file, or why it cannot be made. */
  private deviceJob(m: MatchedFile, device: Device, fw: Firmware): DeviceJob | RenderedFile | RenderFailure {
    const { vendor, rule } = m;
    const model = m.model!;
    const cacheKey = deviceCacheKey(rule, fw);
    const cached = this.rendered.get(device.mac)?.get(cacheKey);
    if (cached !== undefined) return { outcome: 'delivered', status: 200, body: cached.body, hash: cached.hash, contentType: rule.contentType };

    const tpl = this.templates.get(vendor, model.id, rule.template);
    if (!tpl) return { outcome: 'template_not_found', status: 404, detail: rule.template };
    const lines: LineContext[] = [];
    for (const [i, number] of device.lines.entries()) {
      const ext = this.extensions.get(number);
      if (!ext) return { outcome: 'extension_not_found', status: 404, extension: number };
      lines.push({
        index: i + 1,
        number,
        name: ext.name,
        label: ext.name,
        user: number,
        auth_user: number,
        password: ext.secret,
        voicemail: this.hasMailbox(number),
      });
    }
    const shared = this.commonFor(this.config(), vendor, model, device.listener, fw.version);
    const own = deviceOwnContext(device, formatMac(device.mac, vendor.macForm), this.configUrl(device), lines);
    return { outcome: 'to_render', tpl, shared, own, cacheKey };
  }

  /** What every device of a vendor, model, listener and firmware shares: made once until the config changes. */
  private commonFor(config: PbxConfig, vendor: VendorProfile, model: ModelInfo, listener: Device['listener'], firmware: string | undefined): CommonContext {
    const key = `${vendor.id}|${model.id}|${listener}|${firmware ?? ''}`;
    let common = this.commons.get(key);
    if (!common) {
      if (this.commons.size >= 1000) this.commons.clear();
      common = commonContext(config, vendor, provisioningEndpoint(config, listener), model, firmware);
      this.commons.set(key, common);
    }
    return common;
  }

  private readonly commons = new Map<string, CommonContext>();

  private keep(device: Device, cacheKey: string, body: string, hash: string, contentType: string): RenderedFile {
    let perDevice = this.rendered.get(device.mac);
    if (!perDevice) this.rendered.set(device.mac, (perDevice = new Map()));
    perDevice.set(cacheKey, { body, hash });
    return { outcome: 'delivered', status: 200, body, hash, contentType };
  }

  /** A device file from the cache, or made on a render thread (one render for phones asking at once). */
  private renderDeviceOn(
    threads: RenderThreads,
    m: MatchedFile,
    device: Device,
    fw: Firmware,
    firmware: string | undefined,
  ): RenderedFile | RenderFailure | Promise<RenderedFile | RenderFailure> {
    const job = this.deviceJob(m, device, fw);
    if (job.outcome !== 'to_render') return job;
    const key = `${device.mac}|${job.cacheKey}`;
    let waiting = this.inFlight.get(key);
    if (!waiting) {
      const epoch = this.epoch;
      const { tpl, shared, own, cacheKey } = job;
      const contentType = m.rule.contentType;
      waiting = threads.render({ spec: tpl.spec, file: tpl.file, generation: this.templates.generation, shared, own }).then(
        (r): RenderedFile => {
          if (this.epoch !== epoch) return { outcome: 'delivered', status: 200, body: r.body, hash: r.hash, contentType };
          this.inFlight.delete(key);
          return this.keep(device, cacheKey, r.body, r.hash, contentType);
        },
        (err: Error): RenderedFile | RenderFailure => {
          if (this.epoch === epoch) this.inFlight.delete(key);
          if (err instanceof RenderError) return { outcome: 'render_error', status: 500, detail: err.message };
          // The thread was lost (its error is logged where the threads were made): made here instead.
          return this.render(m, firmware);
        },
      );
      this.inFlight.set(key, waiting);
    }
    return waiting;
  }
}

interface DeviceJob {
  outcome: 'to_render';
  tpl: LoadedTemplate;
  /** The context the device shares with its model's phones (kept, made once), and its own part. */
  shared: CommonContext;
  own: DeviceOwnContext;
  cacheKey: string;
}

/** The template catalog of the running config: templates checked against a sample context of their kind. */
export function templateCatalog(vendors: VendorRegistry, config: () => PbxConfig): TemplateCatalog {
  return new TemplateCatalog(vendors, () => config().provisioning.custom_templates_dir, (vendor, modelId, template) => {
    const kind = vendor.files.some((f) => f.template === template && f.kind === 'device') ? 'device' : 'common';
    return sampleContext(config(), vendor, modelId ? vendors.model(vendor.id, modelId) : undefined, kind);
  });
}

/** A context with every variable filled, used to check templates when they load. */
export function sampleContext(config: PbxConfig, vendor: VendorProfile, model: ModelInfo | undefined, kind: 'common' | 'device') {
  const m = model ?? vendor.models[0]!;
  const common = commonContext(config, vendor, provisioningEndpoint(config), m);
  if (kind === 'common') return common;
  return withShared(common, sampleOwn(config, vendor, m));
}

/** A sample device's own part of the context (its model's lines). */
function sampleOwn(config: PbxConfig, vendor: VendorProfile, m: ModelInfo): DeviceOwnContext {
  const lines: LineContext[] = Array.from({ length: m.lines }, (_, i) => ({
    index: i + 1,
    number: String(1001 + i),
    name: `Sample ${i + 1}`,
    label: `Sample ${i + 1}`,
    user: String(1001 + i),
    auth_user: String(1001 + i),
    password: 'sample-secret',
    voicemail: true,
  }));
  const mac = '001565000001';
  return deviceOwnContext(
    { mac, label: null, overrides: { 'sample.key': 'value' }, credential: { user: mac, password: 'sample-prov-secret' } },
    formatMac(mac, vendor.macForm),
    deriveConfigUrl(config, mac, vendor.macForm),
    lines,
  );
}
