// How each provisioning request ends, and what each ending sets off: the log line and
// its level, the security-log event fail2ban reads, what the enumeration guard counts,
// and whether the device's fetch statistics move. One table, so a new outcome is one
// row and no ending is handled in two places. The log lines are part of the product:
// admins and tests look for these words.
import type { Device } from './devices.js';
import type { AuthHow } from './http-auth.js';
import type { Identified } from './vendors/index.js';
import type { FileRule, VendorProfile } from './vendors/types.js';
import type { SecurityEvent } from '../security/security-log.js';
import type { RequestLogEntry } from './request-log.js';

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
  | 'auth_failed'
  | 'not_uploaded'
  | 'uploaded'
  | 'upload_too_large'
  | 'upload_not_allowed';

/** A phone's request for a file, over HTTP or TFTP. */
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

/** One request at the end of the pipeline: what its side effects need to know. */
export interface Fetch {
  req: FetchRequest;
  outcome: FetchOutcome;
  status: number;
  /** From the file name, else from the User-Agent. */
  mac: string | null;
  /** From the file name: the rule's vendor, the device's, or the one its MAC's OUI suggests. */
  vendor: VendorProfile | undefined;
  model: string | undefined;
  device: Device | undefined;
  rule: FileRule | undefined;
  /** What the User-Agent says (vendor, model, MAC), when it says. */
  fromUa: Identified | undefined;
  /** How a per-device file's request was allowed. */
  how?: AuthHow;
  /** SHA-256 of a delivered device file. */
  hash?: string;
  /** The device's account file (its hash is the sync state). */
  account?: boolean;
  /** For the admin: why it failed (never sent to the phone). */
  detail?: string;
  /** The missing extension, for extension_not_found. */
  extension?: string;
  /** Size of an upload. */
  bytes?: number;
}

type Fields = Record<string, unknown>;

export interface OutcomeEffects {
  level: 'info' | 'warn' | 'error';
  /** The log line: its fields and message. */
  line: (f: Fetch) => [Fields, string];
  /** The security-log event, when the request is one. */
  security?: (f: Fetch) => [SecurityEvent, { ip: string } & Record<string, string | number>] | null;
  /** What the enumeration guard counts as a miss. */
  guard?: 'unknownMac' | 'authFailure';
  /** A file was handed to a device: its fetch statistics (last fetch, authenticated, legacy port) move. */
  deviceStats?: true;
}

const GENERIC_PLACEHOLDER_HINT =
  'set the phone\'s provisioning server to the folder (e.g. http://<server>:<port>/provision/) so the phone adds its own file name, ' +
  'or use the vendor\'s MAC macro ($mac for Yealink/Fanvil, $MA for Cisco); {mac} is only expanded by this server when it shows URLs';

const where = (f: Fetch): Fields => ({ ip: f.req.ip, file: f.req.fileName });

export const EFFECTS: Record<FetchOutcome, OutcomeEffects> = {
  delivered: {
    level: 'info',
    line: (f) => {
      const d = f.device;
      if (!d) return [where(f), `✓ Common provisioning file ${f.req.fileName} delivered (${f.vendor!.name}${f.model ? ` ${f.model}` : ''})`];
      const viaWindow = f.how === 'window' ? ' without a credential (first-fetch window)' : '';
      return [
        { ...where(f), mac: d.mac, ...(f.how ? { auth: f.how } : {}) },
        `✓ Provisioning config delivered to ${d.mac} (${f.vendor!.name} ${d.model}, extension ${d.lines.join(', ')})${viaWindow}`,
      ];
    },
    security: (f) =>
      f.rule?.sensitive ? ['sensitive-fetch', { ip: f.req.ip, mac: f.mac ?? '-', file: f.req.fileName, status: 200, auth: f.how ?? '-' }] : null,
    deviceStats: true,
  },
  unknown_device: {
    level: 'warn',
    line: (f) => [
      { ...where(f), mac: f.mac, guessed_vendor: (f.fromUa?.vendor ?? f.vendor)?.id ?? null, guessed_model: f.fromUa?.model ?? null },
      `Device ${f.mac} not registered in provisioning system`,
    ],
    security: (f) => (f.mac ? ['unknown-device', { ip: f.req.ip, mac: f.mac, file: f.req.fileName }] : null),
    guard: 'unknownMac',
  },
  auth_required: {
    level: 'info',
    line: (f) => [{ ...where(f), mac: f.mac }, `Device ${f.mac} asked for ${f.req.fileName} without its provisioning credential: challenge sent`],
  },
  auth_failed: {
    level: 'warn',
    line: (f) => [
      { ...where(f), mac: f.mac, reason: f.detail },
      `Device ${f.mac}: wrong provisioning credential for ${f.req.fileName} (${f.detail}) from ${f.req.ip}`,
    ],
    security: (f) => ['auth-failure', { ip: f.req.ip, service: 'provisioning', mac: f.mac ?? '-', file: f.req.fileName, reason: f.detail ?? '-' }],
    guard: 'authFailure',
  },
  template_not_found: {
    level: 'error',
    line: (f) => [{ ...where(f), mac: f.mac, template: f.detail }, `Template not found for ${f.vendor?.name} ${f.model ?? ''}`.trim()],
  },
  extension_not_found: {
    level: 'error',
    line: (f) => [{ ...where(f), mac: f.mac }, `Extension ${f.extension} not found`],
  },
  render_error: {
    level: 'error',
    line: (f) => [{ ...where(f), mac: f.mac, error: f.detail }, `Rendering ${f.req.fileName} failed`],
  },
  placeholder: {
    level: 'warn',
    line: (f) => [
      { ...where(f), user_agent: f.req.userAgent },
      `Phone at ${f.req.ip} requested "${f.req.fileName}": its provisioning URL contains a literal MAC placeholder. Fix: ${f.fromUa?.vendor.urlHint ?? GENERIC_PLACEHOLDER_HINT}`,
    ],
  },
  malformed_mac: {
    level: 'warn',
    line: (f) => [where(f), `Malformed MAC in provisioning request "${f.req.fileName}": ${f.detail}`],
  },
  wrong_vendor_file: {
    level: 'warn',
    line: (f) => [{ ...where(f), mac: f.mac }, `Device ${f.mac} asked for ${f.req.fileName}, which is not a file for its vendor: ${f.detail}`],
  },
  unknown_file: {
    level: 'info',
    line: (f) => [where(f), `No such provisioning file: ${f.req.fileName}`],
  },
  not_uploaded: {
    level: 'info',
    line: (f) => [{ ...where(f), mac: f.mac }, `Device ${f.mac} asked for ${f.req.fileName}, which it has not uploaded yet (normal on a first boot)`],
  },
  uploaded: {
    level: 'info',
    line: (f) => [{ ...where(f), mac: f.mac, bytes: f.bytes, ...(f.how ? { auth: f.how } : {}) }, `✓ Device ${f.mac} uploaded ${f.req.fileName} (${f.bytes} bytes)`],
    security: (f) => ['sensitive-upload', { ip: f.req.ip, mac: f.mac ?? '-', file: f.req.fileName, bytes: f.bytes ?? 0, auth: f.how ?? '-' }],
  },
  upload_too_large: {
    level: 'warn',
    line: (f) => [{ ...where(f), mac: f.mac, bytes: f.bytes }, `Device ${f.mac}: upload of ${f.req.fileName} refused: ${f.detail}`],
  },
  upload_not_allowed: {
    level: 'warn',
    line: (f) => [{ ...where(f), mac: f.mac }, `Upload of ${f.req.fileName} refused: ${f.detail}`],
  },
};

/** The request-log row (the admin's list of requests; adopting unknown phones): the same for every outcome. */
export function requestLogEntry(f: Fetch, at: string): RequestLogEntry {
  const { req } = f;
  return {
    at,
    ip: req.ip,
    method: req.method,
    path: req.path.slice(0, 512),
    mac: f.mac,
    user_agent: req.userAgent ? req.userAgent.slice(0, 512) : null,
    status: f.status,
    outcome: f.outcome,
    vendor: f.vendor?.id ?? f.fromUa?.vendor.id ?? null,
    model: f.model ?? f.fromUa?.model ?? null,
    detail: f.detail ?? (f.extension ? `extension ${f.extension}` : null),
  };
}

/**
 * A Fetch as it crosses from an HTTP worker process to the primary, which applies its
 * side effects (request log, security log, guard, device statistics): profiles, rules and
 * devices go by name, and the Authorization header stays behind.
 */
export type FetchNote = Omit<Fetch, 'req' | 'vendor' | 'device' | 'rule' | 'fromUa'> & {
  req: Omit<FetchRequest, 'authorization'>;
  vendor?: string;
  device?: string;
  /** The rule's vendor and its index in that vendor's files. */
  rule?: [string, number];
  fromUa?: Omit<Identified, 'vendor'> & { vendor: string };
};

// Each rule's place in its vendor's files, found once (a worker notes every request it serves).
const ruleRefs = new WeakMap<FileRule, [string, number] | null>();

function ruleRef(rule: FileRule, vendors: readonly VendorProfile[]): [string, number] | undefined {
  let ref = ruleRefs.get(rule);
  if (ref === undefined) {
    const owner = vendors.find((v) => v.files.includes(rule));
    ref = owner ? [owner.id, owner.files.indexOf(rule)] : null;
    ruleRefs.set(rule, ref);
  }
  return ref ?? undefined;
}

// Field by field, not by rest and spread: a busy worker makes one note per request, and
// the primary turns each back (object spreads were 14 % of its CPU). A field added to
// Fetch fails the type check here until toNote carries it.
type Carried = 'req' | 'outcome' | 'status' | 'mac' | 'model' | 'vendor' | 'device' | 'rule' | 'fromUa' | 'how' | 'hash' | 'account' | 'detail' | 'extension' | 'bytes';
const everyFieldCarried: [Exclude<keyof Fetch, Carried>] extends [never] ? true : never = true;
void everyFieldCarried;
export function toNote(f: Fetch, vendors: readonly VendorProfile[]): FetchNote {
  const r = f.req;
  const req: FetchNote['req'] = { fileName: r.fileName, path: r.path, method: r.method, ip: r.ip, userAgent: r.userAgent, localPort: r.localPort, legacy: r.legacy };
  if (r.target !== undefined) req.target = r.target;
  if (r.secure !== undefined) req.secure = r.secure;
  if (r.keyed !== undefined) req.keyed = r.keyed;
  const note: FetchNote = { req, outcome: f.outcome, status: f.status, mac: f.mac, model: f.model };
  if (f.vendor) note.vendor = f.vendor.id;
  if (f.device) note.device = f.device.mac;
  if (f.rule) note.rule = ruleRef(f.rule, vendors);
  if (f.fromUa) note.fromUa = { ...f.fromUa, vendor: f.fromUa.vendor.id };
  if (f.how !== undefined) note.how = f.how;
  if (f.hash !== undefined) note.hash = f.hash;
  if (f.account !== undefined) note.account = f.account;
  if (f.detail !== undefined) note.detail = f.detail;
  if (f.extension !== undefined) note.extension = f.extension;
  if (f.bytes !== undefined) note.bytes = f.bytes;
  return note;
}

/** The Fetch a note stands for. The note (parsed for this call alone) becomes it: its fields are reused, not copied. */
export function fromNote(n: FetchNote, vendor: (id: string) => VendorProfile | undefined, device: (mac: string) => Device | undefined): Fetch {
  const { vendor: vendorId, device: mac, rule, fromUa } = n;
  const f = n as unknown as Fetch;
  f.model = n.model; // JSON left it out when undefined
  f.vendor = vendorId ? vendor(vendorId) : undefined;
  f.device = mac ? device(mac) : undefined;
  f.rule = rule ? vendor(rule[0])?.files[rule[1]] : undefined;
  const fromUaVendor = fromUa ? vendor(fromUa.vendor) : undefined;
  if (fromUa && fromUaVendor) (fromUa as unknown as Identified).vendor = fromUaVendor;
  f.fromUa = fromUa && fromUaVendor ? (fromUa as unknown as Identified) : undefined;
  return f;
}
