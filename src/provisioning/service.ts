// The phone-facing provisioning pipeline, independent of HTTP or TFTP: identify the
// request, resolve and render the file, log one clear line, record the request.
import type { Logger } from 'pino';
import { normalizeMac } from '../util/mac.js';
import type { Device, DeviceService } from './devices.js';
import type { PhoneFiles, ResolvedFile } from './phone-files.js';
import type { RequestLog } from './request-log.js';
import type { VendorRegistry } from './vendors/index.js';
import type { ProvisioningGuard } from './guard.js';
import type { SecurityLog } from '../security/security-log.js';
import type { ProvisioningAuth } from './http-auth.js';

export interface FetchRequest {
  /** Last path segment, URL-decoded. */
  fileName: string;
  path: string;
  method: string;
  ip: string;
  userAgent: string | null;
  /** Server port the request came in on. */
  localPort: number;
  /** True when that port is an old provisioning port kept open for the grace period. */
  legacy: boolean;
  /** The Authorization header, if any (HTTP only). */
  authorization?: string;
  /** The request target as sent, path and query (what a digest `uri` names). */
  target?: string;
  /** True over TLS. */
  secure?: boolean;
  /** The path began with the site's URL key (provisioning.auth.url_key). */
  keyed?: boolean;
}

export interface FetchAnswer {
  status: number;
  body?: string;
  contentType?: string;
  /** WWW-Authenticate values on a 401. */
  challenge?: string[];
}

const GENERIC_PLACEHOLDER_HINT =
  'set the phone\'s provisioning server to the folder (e.g. http://<server>:<port>/provision/) so the phone adds its own file name, ' +
  'or use the vendor\'s MAC macro ($mac for Yealink/Fanvil, $MA for Cisco); {mac} is only expanded by this server when it shows URLs';

export class ProvisioningService {
  /** Files served through an old (grace) port since start. */
  legacyFetches = 0;
  /** Called when a phone fetched its account file through an old port (it now knows the new URL). */
  onLegacyFetch: ((device: Device) => void) | null = null;

  constructor(
    private readonly files: PhoneFiles,
    private readonly devices: DeviceService,
    private readonly vendors: VendorRegistry,
    private readonly requests: RequestLog,
    private readonly log: Logger,
    private readonly guard: ProvisioningGuard,
    private readonly securityLog: SecurityLog,
    private readonly auth: ProvisioningAuth,
  ) {}

  handle(req: FetchRequest): FetchAnswer {
    const ua = req.userAgent;
    const fromUa = ua ? this.vendors.identify(ua) : undefined;
    // Unknown files and devices get their 404 before any challenge; only a file that
    // holds a secret asks who is asking.
    let result = this.files.resolve(req.fileName);
    let challenge: string[] | undefined;
    let how: string | undefined;
    if (result.outcome === 'delivered' && result.device && result.rule?.sensitive) {
      const verdict = this.auth.check(result.device, {
        authorization: req.authorization,
        method: req.method,
        uri: req.target ?? req.path,
        ip: req.ip,
        secure: req.secure ?? false,
        keyed: req.keyed,
      });
      if (verdict.ok) how = verdict.how;
      else {
        challenge = verdict.challenge;
        const { body: _secret, ...rest } = result;
        result = verdict.failure
          ? { ...rest, outcome: 'auth_failed', status: 401, detail: verdict.failure }
          : { ...rest, outcome: 'auth_required', status: 401, detail: 'challenge sent' };
      }
    }
    const mac = result.mac ?? (fromUa?.mac ? normalizeMac(fromUa.mac) : null) ?? null;
    const who = { ip: req.ip, user_agent: ua, file: req.fileName };

    if (mac) this.log.info(who, `Provisioning request received for MAC: ${mac}`);
    else this.log.info(who, `Provisioning request received for ${req.fileName}`);

    this.report(result, req, mac, fromUa, how);
    const at = new Date().toISOString();
    this.requests.add({
      at,
      ip: req.ip,
      method: req.method,
      path: req.path.slice(0, 512),
      mac,
      user_agent: ua ? ua.slice(0, 512) : null,
      status: result.status,
      outcome: result.outcome,
      vendor: result.vendor?.id ?? fromUa?.vendor.id ?? null,
      model: result.model ?? fromUa?.model ?? null,
      detail: result.detail ?? (result.extension ? `extension ${result.extension}` : null),
    });
    if (result.outcome === 'unknown_device' && mac) {
      this.securityLog.write('unknown-device', { ip: req.ip, mac, file: req.fileName });
      this.guard.unknownMac(req.ip, mac);
    }
    if (result.outcome === 'auth_failed') {
      this.securityLog.write('auth-failure', { ip: req.ip, service: 'provisioning', mac: result.mac ?? '-', file: req.fileName, reason: result.detail ?? '-' });
      this.guard.authFailure(req.ip);
    }
    if (result.outcome === 'delivered' && result.rule?.sensitive) {
      this.securityLog.write('sensitive-fetch', { ip: req.ip, mac: result.mac ?? '-', file: req.fileName, status: 200, auth: how ?? '-' });
      if ((how === 'digest' || how === 'basic') && result.device) this.devices.recordAuthenticated(result.device.mac);
      if (how === 'window' && result.device) this.devices.recordWindowUse(result.device.mac);
    }
    if (result.outcome === 'delivered' && result.device) {
      const account = result.rule && this.files.isAccountFile(result.device, result.rule);
      this.devices.recordFetch(result.device.mac, {
        ip: req.ip,
        userAgent: ua,
        servedUrl: this.files.configUrl(result.device),
        at,
        port: req.localPort,
        legacy: req.legacy,
        accountHash: account ? (result.hash ?? null) : null,
      });
      if (req.legacy) {
        this.legacyFetches++;
        this.log.warn(
          { mac: result.device.mac, ip: req.ip, file: req.fileName, port: req.localPort, now_url: this.files.configUrl(result.device) },
          `Device ${result.device.mac} fetched ${req.fileName} through old port ${req.localPort}; its file now points it at ${this.files.configUrl(result.device)}`,
        );
        if (account) this.onLegacyFetch?.(result.device);
      }
    }
    if (result.status === 200) return { status: 200, body: result.body, contentType: result.contentType };
    return { status: result.status, challenge };
  }

  private report(
    r: ResolvedFile,
    req: FetchRequest,
    mac: string | null,
    fromUa: ReturnType<VendorRegistry['identify']>,
    how: string | undefined,
  ): void {
    const base = { ip: req.ip, file: req.fileName };
    switch (r.outcome) {
      case 'delivered':
        if (r.device) {
          const d = r.device;
          const viaWindow = how === 'window' ? ' without a credential (first-fetch window)' : '';
          this.log.info(
            { ...base, mac: d.mac, ...(how ? { auth: how } : {}) },
            `✓ Provisioning config delivered to ${d.mac} (${r.vendor!.name} ${d.model}, extension ${d.lines.join(', ')})${viaWindow}`,
          );
        } else {
          this.log.info(base, `✓ Common provisioning file ${req.fileName} delivered (${r.vendor!.name}${r.model ? ` ${r.model}` : ''})`);
        }
        return;
      case 'unknown_device': {
        const vendor = fromUa?.vendor ?? r.vendor;
        this.log.warn(
          { ...base, mac, guessed_vendor: vendor?.id ?? null, guessed_model: fromUa?.model ?? null },
          `Device ${mac} not registered in provisioning system`,
        );
        return;
      }
      case 'template_not_found':
        this.log.error({ ...base, mac, template: r.detail }, `Template not found for ${r.vendor?.name} ${r.model ?? ''}`.trim());
        return;
      case 'extension_not_found':
        this.log.error({ ...base, mac }, `Extension ${r.extension} not found`);
        return;
      case 'placeholder': {
        const hint = fromUa?.vendor.urlHint ?? GENERIC_PLACEHOLDER_HINT;
        this.log.warn(
          { ...base, user_agent: req.userAgent },
          `Phone at ${req.ip} requested "${req.fileName}": its provisioning URL contains a literal MAC placeholder. Fix: ${hint}`,
        );
        return;
      }
      case 'malformed_mac':
        this.log.warn(base, `Malformed MAC in provisioning request "${req.fileName}": ${r.detail}`);
        return;
      case 'wrong_vendor_file':
        this.log.warn({ ...base, mac }, `Device ${mac} asked for ${req.fileName}, which is not a file for its vendor: ${r.detail}`);
        return;
      case 'render_error':
        this.log.error({ ...base, mac, error: r.detail }, `Rendering ${req.fileName} failed`);
        return;
      case 'unknown_file':
        this.log.info(base, `No such provisioning file: ${req.fileName}`);
        return;
      case 'auth_required':
        this.log.info({ ...base, mac }, `Device ${mac} asked for ${req.fileName} without its provisioning credential: challenge sent`);
        return;
      case 'auth_failed':
        this.log.warn({ ...base, mac, reason: r.detail }, `Device ${mac}: wrong provisioning credential for ${req.fileName} (${r.detail}) from ${req.ip}`);
        return;
    }
  }
}
