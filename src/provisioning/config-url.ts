// The one place a provisioning URL is made. It is always derived from the live
// config and never read back from storage, so a changed port or address reaches
// every device the moment the config changes (the "Connection error" lesson).
import type { PbxConfig } from '../config/schema.js';
import { formatMac, type MacForm } from '../util/mac.js';
import { formatHost } from '../sip/uri.js';

export interface ProvisioningEndpoint {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Scheme, host, port and the folder of url_format, without a trailing slash. */
  baseUrl: string;
}

/**
 * The listener phones provision from: the plain-HTTP one when provisioning.http_port
 * is set (for phones that cannot validate the HTTPS certificate), else the API's.
 */
export function provisioningListener(config: PbxConfig): { scheme: 'http' | 'https'; port: number } {
  if (config.provisioning.http_port > 0) return { scheme: 'http', port: config.provisioning.http_port };
  return { scheme: config.api.ssl.enabled ? 'https' : 'http', port: config.api.port };
}

/** Where phones reach the provisioning server: the listener that serves /provision. */
export function provisioningEndpoint(config: PbxConfig): ProvisioningEndpoint {
  const { scheme, port } = provisioningListener(config);
  const sample = fillUrlFormat(config, 'aabbccddeeff');
  const url = new URL(sample);
  const folder = url.pathname.slice(0, url.pathname.lastIndexOf('/'));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { scheme, host, port, baseUrl: `${scheme}://${formatHost(host)}:${port}${folder}` };
}

/**
 * A device's config URL: url_format with {{SERVER_IP}} ← server.external_ip,
 * {{PORT}} ← the provisioning listener's port (api.port, or provisioning.http_port),
 * {mac}/$mac ← the MAC in its vendor's form; the scheme follows that listener.
 */
export function deriveConfigUrl(config: PbxConfig, mac: string, macForm: MacForm): string {
  const { scheme } = provisioningListener(config);
  return fillUrlFormat(config, formatMac(mac, macForm)).replace(/^https?:/i, `${scheme}:`);
}

function fillUrlFormat(config: PbxConfig, mac: string): string {
  const ip = config.server.external_ip;
  return config.provisioning.url_format
    .replace(/\{\{\s*SERVER_IP\s*\}\}/g, ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip)
    .replace(/\{\{\s*PORT\s*\}\}/g, String(provisioningListener(config).port))
    .replace(/\{mac\}|\$mac\b/gi, mac);
}
