// Turns a requested file name into the bytes a phone gets: which vendor rule it
// matches, which device it is for, and the rendered template. Rendered files are
// cached until something they depend on (device, extension, config, template) changes.
import type { PbxConfig } from '../config/schema.js';
import type { ExtensionService } from '../pbx/extensions.js';
import { createHash } from 'node:crypto';
import { formatMac, normalizeMac } from '../util/mac.js';
import { commonContext, deviceContext, type LineContext } from './context.js';
import { deriveConfigUrl, provisioningEndpoint } from './config-url.js';
import type { Device, DeviceService } from './devices.js';
import type { TemplateCatalog } from './templates.js';
import type { FileMatch, VendorRegistry } from './vendors/index.js';
import type { FileRule, ModelInfo, VendorProfile } from './vendors/types.js';

export type FetchOutcome =
  | 'delivered'
  | 'placeholder'
  | 'malformed_mac'
  | 'unknown_file'
  | 'unknown_device'
  | 'wrong_vendor_file'
  | 'template_not_found'
  | 'extension_not_found'
  | 'render_error'
  | 'auth_required'
  | 'auth_failed';

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
  /** SHA-256 of the body, for device files (sync state). */
  hash?: string;
  contentType?: string;
  /** For errors: what the admin needs to know (goes to the log, never to the phone). */
  detail?: string;
  /** The missing extension, for extension_not_found. */
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
  /** Delivered answers by requested file name: a phone asks for the same names again and again. */
  private readonly answers = new Map<string, ResolvedFile>();

  constructor(
    private readonly config: () => PbxConfig,
    private readonly vendors: VendorRegistry,
    private readonly templates: TemplateCatalog,
    private readonly devices: DeviceService,
    private readonly extensions: ExtensionService,
  ) {
    devices.onChange((mac) => {
      this.rendered.delete(mac);
      this.urls.delete(mac);
      this.answers.clear();
    });
    extensions.onChange((number) => {
      for (const d of devices.usingExtension(number)) this.rendered.delete(d.mac);
      this.answers.clear();
    });
  }

  /** Forget every rendered file: the config or a template changed. */
  invalidateAll(): void {
    this.rendered.clear();
    this.common.clear();
    this.urls.clear();
    this.answers.clear();
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

  resolve(rawName: string): ResolvedFile {
    const known = this.answers.get(rawName);
    if (known) return known;
    const answer = this.resolveAnew(rawName);
    // Only delivered files are kept (a scanner's names are not): at most a few per device.
    if (answer.outcome === 'delivered') {
      if (this.answers.size >= 100_000) this.answers.clear();
      this.answers.set(rawName, answer);
    }
    return answer;
  }

  private resolveAnew(rawName: string): ResolvedFile {
    const fileName = rawName;
    if (PLACEHOLDER.test(fileName)) {
      return { outcome: 'placeholder', status: 400, fileName, detail: 'the phone requested a literal MAC placeholder' };
    }
    let matches = this.vendors.matchFile(fileName);
    let canonical = fileName;
    if (matches.length === 0) {
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
    const commonMatch = matches.find((m) => m.rule.kind === 'common');
    if (commonMatch) return this.serveCommon(fileName, commonMatch);
    return this.serveDevice(fileName, canonical, matches);
  }

  /** Hash of the account file the device would get now (null when it cannot be rendered). */
  accountHash(device: Device): string | null {
    return this.renderDeviceFile(device).hash ?? null;
  }

  /** True when `fileName` is this device's account file (the one whose hash is tracked). */
  isAccountFile(device: Device, rule: FileRule): boolean {
    const vendor = this.vendors.get(device.vendor);
    if (!vendor) return false;
    return rule.pattern.test(vendor.deviceFile(formatMac(device.mac, vendor.macForm)));
  }

  /** The per-device file with the SIP account, as `pbx provision render` prints it. */
  renderDeviceFile(device: Device): ResolvedFile {
    const vendor = this.vendors.get(device.vendor);
    if (!vendor) return { outcome: 'unknown_device', status: 404, fileName: '', mac: device.mac };
    const name = vendor.deviceFile(formatMac(device.mac, vendor.macForm));
    return this.resolve(name);
  }

  private serveCommon(fileName: string, m: FileMatch): ResolvedFile {
    const models = m.rule.modelsFromMatch?.(m.match) ?? [];
    const model = models[0] ? this.vendors.model(m.vendor.id, models[0]) : undefined;
    const base = { fileName, vendor: m.vendor, model: model?.id, rule: m.rule };
    const key = `${m.vendor.id}|${model?.id ?? ''}|${m.rule.template}`;
    let body = this.common.get(key);
    if (body === undefined) {
      const tpl = this.templates.get(m.vendor, model?.id, m.rule.template);
      if (!tpl) return { ...base, outcome: 'template_not_found', status: 404, detail: m.rule.template };
      const ctx = commonContext(this.config(), m.vendor, provisioningEndpoint(this.config()), model);
      try {
        body = tpl.engine.renderSync(tpl.parsed, ctx) as string;
      } catch (err) {
        return { ...base, outcome: 'render_error', status: 500, detail: (err as Error).message };
      }
      this.common.set(key, body);
    }
    return { ...base, outcome: 'delivered', status: 200, body, contentType: m.rule.contentType };
  }

  private serveDevice(fileName: string, canonical: string, matches: FileMatch[]): ResolvedFile {
    const mac = normalizeMac(matches[0]!.match.groups?.mac ?? '');
    if (!mac) return { outcome: 'malformed_mac', status: 400, fileName, detail: 'no MAC in the file name' };
    const device = this.devices.get(mac);
    if (!device) {
      const guess = this.vendors.byOui(formatMac(mac, 'colon-upper').slice(0, 8));
      return { outcome: 'unknown_device', status: 404, fileName, mac, vendor: guess };
    }
    const vendor = this.vendors.get(device.vendor)!;
    const model = this.vendors.model(vendor.id, device.model)!;
    const base = { fileName, mac, device, vendor, model: model.id };
    let match = matches.find((m) => m.vendor.id === vendor.id);
    if (!match && canonical.toLowerCase() === `${mac}.cfg`) {
      // The generic /provision/<mac>.cfg of url_format: serve this vendor's account file.
      match = this.vendors.matchFile(vendor.deviceFile(formatMac(mac, vendor.macForm))).find((m) => m.vendor.id === vendor.id);
    }
    if (!match) {
      return { ...base, outcome: 'wrong_vendor_file', status: 404, detail: `${fileName} is not a ${vendor.name} file` };
    }
    const rule = match.rule;
    const cached = this.rendered.get(mac)?.get(rule.template);
    if (cached !== undefined) return { ...base, rule, outcome: 'delivered', status: 200, body: cached.body, hash: cached.hash, contentType: rule.contentType };

    const tpl = this.templates.get(vendor, model.id, rule.template);
    if (!tpl) return { ...base, rule, outcome: 'template_not_found', status: 404, detail: rule.template };
    const lines: LineContext[] = [];
    for (const [i, number] of device.lines.entries()) {
      const ext = this.extensions.get(number);
      if (!ext) return { ...base, rule, outcome: 'extension_not_found', status: 404, extension: number };
      lines.push({
        index: i + 1,
        number,
        name: ext.name,
        label: ext.name,
        user: number,
        auth_user: number,
        password: ext.secret,
      });
    }
    const config = this.config();
    const ctx = deviceContext(
      commonContext(config, vendor, provisioningEndpoint(config, device.listener), model),
      model,
      device,
      formatMac(mac, vendor.macForm),
      this.configUrl(device),
      lines,
    );
    let body: string;
    try {
      body = tpl.engine.renderSync(tpl.parsed, ctx) as string;
    } catch (err) {
      return { ...base, rule, outcome: 'render_error', status: 500, detail: (err as Error).message };
    }
    let perDevice = this.rendered.get(mac);
    if (!perDevice) this.rendered.set(mac, (perDevice = new Map()));
    const hash = createHash('sha256').update(body).digest('hex');
    perDevice.set(rule.template, { body, hash });
    return { ...base, rule, outcome: 'delivered', status: 200, body, hash, contentType: rule.contentType };
  }
}

/** A context with every variable filled, used to check templates when they load. */
export function sampleContext(config: PbxConfig, vendor: VendorProfile, model: ModelInfo | undefined, kind: 'common' | 'device') {
  const m = model ?? vendor.models[0]!;
  const common = commonContext(config, vendor, provisioningEndpoint(config), m);
  if (kind === 'common') return common;
  const lines: LineContext[] = Array.from({ length: m.lines }, (_, i) => ({
    index: i + 1,
    number: String(1001 + i),
    name: `Sample ${i + 1}`,
    label: `Sample ${i + 1}`,
    user: String(1001 + i),
    auth_user: String(1001 + i),
    password: 'sample-secret',
  }));
  const mac = '001565000001';
  return deviceContext(
    common,
    m,
    { mac, label: null, overrides: { 'sample.key': 'value' }, credential: { user: mac, password: 'sample-prov-secret' } },
    formatMac(mac, vendor.macForm),
    deriveConfigUrl(config, mac, vendor.macForm),
    lines,
  );
}
