// What an admin needs to see when phones do not provision: the live URL format and
// where it points, counts, recent failures, and warnings about likely mistakes.
import { hostAddresses } from '../util/net.js';
import type { PbxConfig } from '../config/schema.js';
import { deriveConfigUrl, provisioningEndpoint } from './config-url.js';
import type { DeviceService } from './devices.js';
import type { RequestLog } from './request-log.js';

export interface Diagnostics {
  url_format: string;
  external_ip: string;
  port: number;
  scheme: string;
  provisioning_server: string;
  sample_url: string;
  counts: { devices: number; never_provisioned: number; requests_logged: number };
  recent_failures: { at: string; ip: string; path: string; mac: string | null; status: number; outcome: string; detail: string | null }[];
  warnings: string[];
}

export async function diagnose(config: PbxConfig, devices: DeviceService, requests: RequestLog): Promise<Diagnostics> {
  const endpoint = provisioningEndpoint(config);
  const failures = (await requests.list({ limit: 200 })).filter((r) => r.status !== 200 && r.status !== 204).slice(0, 20);
  const all = devices.list();
  const never = all.filter((d) => !d.lastProvisioned);
  return {
    url_format: config.provisioning.url_format,
    external_ip: config.server.external_ip,
    port: config.api.port,
    scheme: endpoint.scheme,
    provisioning_server: endpoint.baseUrl + '/',
    sample_url: deriveConfigUrl(config, 'aabbccddeeff', 'lower'),
    counts: { devices: all.length, never_provisioned: never.length, requests_logged: await requests.count() },
    recent_failures: failures.map(({ at, ip, path, mac, status, outcome, detail }) => ({ at, ip, path, mac, status, outcome, detail })),
    warnings: warnings(config, never.map((d) => d.mac)),
  };
}

export function warnings(config: PbxConfig, neverProvisioned: string[]): string[] {
  const out: string[] = [];
  if (!config.provisioning.enabled) out.push('provisioning.enabled is false: phones get 404 for every file');
  const ipProblem = externalIpProblem(config.server.external_ip);
  if (ipProblem) out.push(ipProblem);
  if (!/\{mac\}|\$mac/i.test(config.provisioning.url_format)) {
    out.push('provisioning.url_format has no {mac} placeholder: every device would get the same URL');
  }
  if (config.api.ssl.enabled) {
    out.push('provisioning is served over HTTPS: phones that cannot validate the certificate will fail to fetch');
  }
  if (neverProvisioned.length > 0) {
    out.push(`${neverProvisioned.length} device(s) never fetched their file: ${neverProvisioned.slice(0, 10).join(', ')}${neverProvisioned.length > 10 ? ', …' : ''}`);
  }
  return out;
}

/** What is wrong with server.external_ip as the address phones use, or null. */
export function externalIpProblem(ip: string): string | null {
  if (['127.0.0.1', '::1', 'localhost', '0.0.0.0'].includes(ip)) {
    return `server.external_ip is ${ip}: phones on the network cannot reach it`;
  }
  const addresses = hostAddresses(true);
  if (/^[\d.]+$|:/.test(ip) && !addresses.includes(ip.toLowerCase())) {
    return `server.external_ip ${ip} is not an address of this host (its addresses: ${addresses.join(', ') || 'none found'})`;
  }
  return null;
}
