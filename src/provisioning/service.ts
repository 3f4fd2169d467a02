// The phone-facing provisioning pipeline, the same for HTTP and TFTP, in four steps:
// match the file name once (which rule, vendor, device, model), authorise (only a file
// that holds a secret asks who is asking), render (cached), record (one table of outcome
// → side effects, fetch-outcomes.ts). A request that may not have a file never gets it
// rendered; unknown files and devices get their 404 before any challenge.
import type { Logger } from 'pino';
import { normalizeMac } from '../util/mac.js';
import type { Device, DeviceService } from './devices.js';
import { EFFECTS, requestLogEntry, type Fetch, type FetchOutcome, type FetchRequest } from './fetch-outcomes.js';
import type { NameMatch, PhoneFiles, RenderedFile } from './phone-files.js';
import type { RequestLog } from './request-log.js';
import type { Identified, VendorRegistry } from './vendors/index.js';
import type { ProvisioningGuard } from './guard.js';
import type { SecurityLog } from '../security/security-log.js';
import type { AuthHow, ProvisioningAuth } from './http-auth.js';
import { nowIso } from '../util/clock.js';

export interface FetchAnswer {
  status: number;
  body?: string;
  contentType?: string;
  /** WWW-Authenticate values on a 401. */
  challenge?: string[];
  /**
   * Settles once every process refuses what this request's miss banned: answer after it,
   * so a scanner's next request is refused whichever HTTP process it reaches.
   */
  settled?: Promise<void>;
}

/** Where a request's side effects go: applied here, or sent to the process that owns them. */
export type EffectsSink = (f: Fetch) => Promise<void> | undefined;

export class ProvisioningService {
  /** Files served through an old (grace) port since start. */
  legacyFetches = 0;
  /** Called when a phone fetched its account file through an old port (it now knows the new URL). */
  onLegacyFetch: ((device: Device) => void) | null = null;
  /**
   * An HTTP worker process sends each request's side effects to the primary (it logs its
   * own lines); null: applied here.
   */
  sendEffects: EffectsSink | null = null;
  /** Settles when other processes have learnt of a request's consequences (a ban, a closed window). */
  afterMiss: (() => Promise<void>) | null = null;

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

  /**
   * One download. The answer is a promise only when the file is being made on a render
   * thread (provisioning.render_threads); everything else is answered at once.
   */
  handle(req: FetchRequest): FetchAnswer | Promise<FetchAnswer> {
    const fromUa = req.userAgent ? this.vendors.identify(req.userAgent) : undefined;
    const m = this.files.match(req.fileName);
    if (m.outcome !== 'matched') return this.answer(req, m, fromUa, m);
    const verdict = m.rule.sensitive && m.device ? this.authorize(m.device, req) : undefined;
    if (verdict && !verdict.ok) {
      // Refused: the file is not rendered at all (it holds SIP passwords).
      const outcome = verdict.failure ? 'auth_failed' : 'auth_required';
      return this.answer(req, m, fromUa, { outcome, status: 401, detail: verdict.failure ?? 'challenge sent' }, undefined, verdict.challenge);
    }
    // Keys can depend on the firmware generation (Yealink before/after 81): the version the
    // phone announces now, when its User-Agent is this vendor's.
    const r = this.files.renderSoon(m, fromUa?.vendor === m.vendor ? fromUa.firmware : undefined);
    if (r instanceof Promise) return r.then((done) => this.answer(req, m, fromUa, done, verdict?.how));
    return this.answer(req, m, fromUa, r, verdict?.how);
  }

  /** Records a download's outcome and makes its answer. */
  private answer(
    req: FetchRequest,
    m: NameMatch,
    fromUa: Identified | undefined,
    r: { outcome: FetchOutcome; status: number; detail?: string; extension?: string } | RenderedFile,
    how?: AuthHow,
    challenge?: string[],
  ): FetchAnswer {
    const file = r.outcome === 'delivered' ? (r as RenderedFile) : undefined;
    const failed = file ? undefined : (r as { detail?: string; extension?: string });
    const settled = this.record({
      req,
      outcome: r.outcome,
      status: r.status,
      mac: m.mac ?? (fromUa?.mac ? normalizeMac(fromUa.mac) : null),
      vendor: m.vendor,
      model: m.model?.id,
      device: m.device,
      rule: m.outcome === 'matched' ? m.rule : undefined,
      fromUa,
      how,
      hash: file?.hash,
      account: m.outcome === 'matched' && m.account,
      detail: failed?.detail,
      extension: failed?.extension,
    });
    if (file) return { status: 200, body: file.body, contentType: file.contentType, settled };
    return { status: r.status, challenge, settled };
  }

  /**
   * A phone writes a file (HTTP PUT): only names its vendor uploads (Polycom <mac>-phone.cfg,
   * -web.cfg, logs …), only for a known device, only with the credential (or window) its
   * downloads need, at most provisioning.upload_max_bytes. Stored whole, then served back.
   */
  upload(req: FetchRequest, body: Buffer, maxBytes: number): FetchAnswer {
    const fromUa = req.userAgent ? this.vendors.identify(req.userAgent) : undefined;
    const m = this.files.match(req.fileName);
    const base = { req, mac: m.mac ?? null, vendor: m.vendor, model: m.model?.id, device: m.device, fromUa, bytes: body.length };
    if (m.outcome !== 'matched') {
      // An unknown device's upload counts as a miss, as its download would.
      if (m.outcome === 'unknown_device') {
        return { status: 404, settled: this.record({ ...base, outcome: m.outcome, status: 404, rule: undefined, detail: m.detail }) };
      }
      this.record({ ...base, outcome: 'upload_not_allowed', status: 405, rule: undefined, detail: 'no phone uploads a file of this name' });
      return { status: 405 };
    }
    if (m.rule.kind !== 'upload' || !m.device || !m.mac) {
      this.record({ ...base, outcome: 'upload_not_allowed', status: 405, rule: m.rule, detail: `${m.vendor.name} phones do not upload ${m.fileName}; this server makes it` });
      return { status: 405 };
    }
    const verdict = this.authorize(m.device, req);
    if (!verdict.ok) {
      const settled = this.record({ ...base, outcome: verdict.failure ? 'auth_failed' : 'auth_required', status: 401, rule: m.rule, detail: verdict.failure ?? 'challenge sent' });
      return { status: 401, challenge: verdict.challenge, settled };
    }
    if (body.length > maxBytes) {
      this.record({ ...base, outcome: 'upload_too_large', status: 413, rule: m.rule, detail: `${body.length} bytes, the limit is ${maxBytes} (provisioning.upload_max_bytes)` });
      return { status: 413 };
    }
    this.files.uploads.save(m.mac, m.fileName.toLowerCase(), body);
    this.record({ ...base, outcome: 'uploaded', status: 204, rule: m.rule, how: verdict.how });
    if (verdict.how === 'digest' || verdict.how === 'basic') this.devices.recordAuthenticated(m.device.mac);
    return { status: 204 };
  }

  /** Whether this request may have (or write) this device's files: its credential, or its window. */
  private authorize(device: Device, req: FetchRequest) {
    return this.auth.check(device, {
      authorization: req.authorization,
      method: req.method,
      uri: req.target ?? req.path,
      ip: req.ip,
      secure: req.secure ?? false,
      keyed: req.keyed,
    });
  }

  /** The side effects of one request, as the outcome table says: its log lines here, the rest where they are owned. */
  private record(f: Fetch): Promise<void> | undefined {
    const { req } = f;
    const effects = EFFECTS[f.outcome];
    if (this.log.isLevelEnabled('info')) {
      const who = { ip: req.ip, user_agent: req.userAgent, file: req.fileName };
      this.log.info(who, f.mac ? `Provisioning request received for MAC: ${f.mac}` : `Provisioning request received for ${req.fileName}`);
    }
    if (this.log.isLevelEnabled(effects.level)) {
      const [fields, message] = effects.line(f);
      this.log[effects.level](fields, message);
    }
    if (this.sendEffects) return this.sendEffects(f);
    const window = f.device ? `${f.device.windowOpenedAt}|${f.device.windowUsedAt}` : '';
    this.applyEffects(f);
    const moved = f.device !== undefined && window !== `${f.device.windowOpenedAt}|${f.device.windowUsedAt}`;
    return (effects.guard || moved) && this.afterMiss ? this.afterMiss() : undefined;
  }

  /** What a request sets off besides its log lines: request log, security log, guard, device statistics. */
  applyEffects(f: Fetch): void {
    const { req } = f;
    const effects = EFFECTS[f.outcome];
    const at = nowIso();
    this.requests.add(requestLogEntry(f, at));
    const event = effects.security?.(f);
    if (event) this.securityLog.write(event[0], event[1]);
    if (effects.guard === 'unknownMac' && f.mac) this.guard.unknownMac(req.ip, f.mac);
    if (effects.guard === 'authFailure') this.guard.authFailure(req.ip);
    if (effects.deviceStats && f.device) this.recordDelivery(f, f.device, at);
  }

  /** A device got a file: when and how it fetched, and what an old port's fetch sets off. */
  private recordDelivery(f: Fetch, device: Device, at: string): void {
    const { req } = f;
    if (f.how === 'digest' || f.how === 'basic') this.devices.recordAuthenticated(device.mac);
    if (f.how === 'window') this.devices.recordWindowUse(device.mac);
    const url = this.files.configUrl(device);
    this.devices.recordFetch(device.mac, {
      ip: req.ip,
      userAgent: req.userAgent,
      servedUrl: url,
      at,
      port: req.localPort,
      legacy: req.legacy,
      accountHash: f.account ? (f.hash ?? null) : null,
    });
    if (req.legacy) {
      this.legacyFetches++;
      this.log.warn(
        { mac: device.mac, ip: req.ip, file: req.fileName, port: req.localPort, now_url: url },
        `Device ${device.mac} fetched ${req.fileName} through old port ${req.localPort}; its file now points it at ${url}`,
      );
      if (f.account) this.onLegacyFetch?.(device);
    }
  }
}
