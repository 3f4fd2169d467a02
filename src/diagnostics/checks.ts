// The checks of `pbx doctor` that need no network probe (external address, certificate,
// devices that did not follow, weak secrets), shared by the CLI, GET /api/doctor and the
// dashboard. The CLI adds the probes (ports, a real fetch, firewall rules); the server
// does not run them on itself: a probe fetch would count as the phone's own fetch.
// They read only what `CheckSources` gives them.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import type { PbxConfig } from '../config/schema.js';
import type { Device } from '../provisioning/devices.js';
import type { SyncState } from '../provisioning/resync.js';
import { hostAddresses } from '../util/net.js';
import { isWeakSecret } from '../security/tokens.js';
import { externalIpProblem } from '../provisioning/diagnostics.js';
import { paced } from '../util/paced.js';

/** What the checks read. */
export interface CheckSources {
  config: () => PbxConfig;
  devices: () => readonly Device[];
  /** Each device's sync state, in order (may render files: asked once for all, paced). */
  syncStates: (devices: readonly Device[]) => Promise<SyncState[]>;
  extensions: () => readonly { number: string; secret: string }[];
}

/** What `pbx doctor` reads besides: where the config is, and a device's file URL (for a probe fetch). */
export interface DoctorSources extends CheckSources {
  configFile: string;
  configUrl: (device: Device) => string;
  /** Enabled trunks and where their requests go (the first target is probed). */
  trunks: () => readonly { name: string; enabled: boolean; register: boolean; transport: string }[];
  trunkTarget: (name: string) => Promise<{ address: string; port: number; transport: string } | null>;
  /** Calls of the last day whose audio flowed one way: how many had no RTP from the phone (caller) and from the far end (callee). */
  oneWayCalls: () => Promise<{ caller: number; callee: number; total: number }>;
}

export interface Finding {
  check: string;
  ok: boolean;
  message: string;
  fix?: string;
}

export const finding = (check: string, ok: boolean, message: string, fix?: string): Finding => ({ check, ok, message, ...(ok ? {} : { fix }) });

/** Is server.external_ip an address of this host? */
export function externalIpFindings(s: CheckSources): Finding[] {
  const ip = s.config().server.external_ip;
  const problem = externalIpProblem(ip);
  if (!problem) return [finding('external-ip', true, `server.external_ip ${ip} is an address of this host`)];
  return [
    finding('external-ip', false, problem, `Set server.external_ip to this host's LAN address (${hostAddresses(true).join(', ') || 'none found'}), or to the public address of a NAT that forwards the ports here`),
  ];
}

/** HTTPS: will phones accept the certificate? Is plain-HTTP provisioning there? */
export function certificateFindings(s: CheckSources): Finding[] {
  const c = s.config();
  if (!c.api.ssl.enabled) return [];
  const out: Finding[] = [];
  const ip = c.server.external_ip;
  try {
    const cert = new X509Certificate(readFileSync(c.api.ssl.cert_file));
    const problems: string[] = [];
    if (cert.issuer === cert.subject) problems.push('self-signed');
    if (new Date(cert.validTo).getTime() < Date.now()) problems.push(`expired on ${cert.validTo}`);
    const nameOk = cert.checkIP(ip) !== undefined || cert.checkHost(ip) !== undefined;
    if (!nameOk) problems.push(`not valid for ${ip}`);
    if (problems.length) {
      out.push(
        finding(
          'certificate',
          false,
          `The HTTPS certificate is ${problems.join(', ')}: phones that validate certificates will refuse to provision`,
          'Use a certificate from a CA the phones trust, issued for server.external_ip (or its DNS name), or serve provisioning over plain HTTP on its own port',
        ),
      );
    } else out.push(finding('certificate', true, 'The HTTPS certificate is CA-issued, current and names server.external_ip'));
  } catch (err) {
    out.push(finding('certificate', false, `Cannot read api.ssl.cert_file: ${(err as Error).message}`, 'Point api.ssl.cert_file at a PEM certificate'));
  }
  if (c.provisioning.http_port === 0) {
    out.push(finding('plain-http', false, 'Provisioning is only served over HTTPS', 'Phones that cannot validate the certificate need plain HTTP: set provisioning.http_port'));
  } else out.push(finding('plain-http', true, `Provisioning is also served over plain HTTP on port ${c.provisioning.http_port}`));
  return out;
}

/** At most this many phones or extensions are named in one finding (a site of 100,000 phones after a config change). */
const LISTED = 20;

function listed(names: string[], whereAll = 'pbx device list'): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown} and ${names.length - LISTED} more (${whereAll})` : shown;
}

/** Every device with its sync state, in order: found once and shared by whoever reads both. */
export interface DeviceStates {
  devices: readonly Device[];
  states: readonly SyncState[];
}

/** Devices never provisioned, stale, or still on an old port (`known`: states already found). */
export async function deviceFindings(s: CheckSources, known?: DeviceStates): Promise<Finding[]> {
  const devices = known?.devices ?? s.devices();
  const found = known?.states ?? (await s.syncStates(devices));
  const states = devices.map((d, i) => ({ mac: d.mac, state: found[i]! }));
  const inState = (st: string) => states.filter((s) => s.state === st).map((s) => s.mac);
  const never = inState('never provisioned');
  const stale = inState('stale');
  const old = inState('fetched via old port');
  const out: Finding[] = [];
  if (never.length) out.push(finding('devices-never', false, `${never.length} device(s) never fetched their file: ${listed(never)}`, 'Point them at the provisioning URL (pbx provision url <mac>) or DHCP option 66; see docs/PROVISIONING.md'));
  if (stale.length) out.push(finding('devices-stale', false, `${stale.length} device(s) have not fetched their changed file: ${listed(stale)}`, 'pbx device resync --stale (they must be registered), or reboot them'));
  if (old.length) out.push(finding('devices-old-port', false, `${old.length} device(s) last fetched through an old port: ${listed(old)}`, 'pbx device resync <mac>: their next fetch uses the new URL'));
  if (!out.length) out.push(finding('devices', true, `${states.length} device(s) in sync or pending`));
  return out;
}

/** Extensions with weak secrets. */
export async function weakSecretFindings(s: CheckSources): Promise<Finding[]> {
  const weak: string[] = [];
  await paced(s.extensions(), (e) => void (isWeakSecret(e.secret, e.number) && weak.push(e.number)));
  if (weak.length) return [finding('weak-secrets', false, `${weak.length} extension(s) with weak SIP secrets: ${listed(weak, 'pbx ext list')}`, 'PUT /api/extensions/{number} {"regenerate_password": true}, then resync their phones')];
  return [finding('weak-secrets', true, 'Every extension has a strong SIP secret')];
}

/** Ranges a first-fetch window may be open to without handing new phones' files to the Internet. */
const LOCAL_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '::1/128', 'fc00::/7', 'fe80::/10'];

/** True when the network (address or CIDR) lies wholly inside one of the local ranges. */
function isLocalNetwork(network: string): boolean {
  const [base, bits] = network.split('/');
  const family = isIPv6(base!) ? 'ipv6' : 'ipv4';
  const prefix = bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits);
  return LOCAL_RANGES.some((range) => {
    const [rBase, rBits] = range.split('/');
    if (isIPv6(rBase!) !== (family === 'ipv6') || prefix < Number(rBits)) return false;
    const list = new BlockList();
    list.addSubnet(rBase!, Number(rBits), family);
    return list.check(base!, family);
  });
}

/** Who may have a phone's file (it holds its SIP password). */
export function provisioningAccessFindings(s: CheckSources): Finding[] {
  const a = s.config().provisioning.auth;
  if (a.mode === 'none') {
    return [finding('provisioning-auth', false, 'provisioning.auth.mode is none: anyone who guesses a MAC gets that phone\'s SIP password', 'Set provisioning.auth.mode: digest (the default); phones get their credential from their own file')];
  }
  const open = a.first_fetch_minutes > 0 ? a.first_fetch_networks.filter((n) => !isLocalNetwork(n)) : [];
  if (open.length) {
    return [finding('provisioning-auth', false, `The first-fetch window is open to networks that are not local: ${open.join(', ')}`, 'List only the LAN networks new phones are on in provisioning.auth.first_fetch_networks, or set first_fetch_minutes: 0')];
  }
  return [finding('provisioning-auth', true, `Phone files need the phone's credential${a.first_fetch_minutes > 0 ? ` (new phones: ${a.first_fetch_minutes} min from local networks)` : ''}`)];
}

/** Every check that needs no network probe, in `pbx doctor`'s order (`known`: device states already found). */
export async function serverFindings(s: CheckSources, known?: DeviceStates): Promise<Finding[]> {
  return [...externalIpFindings(s), ...certificateFindings(s), ...provisioningAccessFindings(s), ...(await deviceFindings(s, known)), ...(await weakSecretFindings(s))];
}

