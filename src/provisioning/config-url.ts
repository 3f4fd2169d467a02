// The one place a provisioning URL is made. It is always derived from the live
// config and never read back from storage, so a changed port or address reaches
// every device the moment the config changes (the "Connection error" lesson).
import type { PbxConfig } from '../config/schema.js';
import { formatMac, type MacForm } from '../util/mac.js';
import { formatHost } from '../sip/uri.js';

/** Which listener a device provisions from: the site default, plain HTTP, or HTTPS. */
export type ListenerChoice = 'default' | 'http' | 'https';

export interface ProvisioningEndpoint {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Scheme, host, port and the folder of url_format, without a trailing slash. */
  baseUrl: string;
}

/**
 * The listener a phone provisions from. By default the plain-HTTP one when
 * provisioning.http_port is set (for phones that cannot validate the HTTPS
 * certificate), else the API's. A device may be assigned `https` (the API listener
 * with TLS) or `http` (plain HTTP) instead; a choice the config cannot serve falls
 * back to the default (listenerProblem says why, for the API to refuse it first).
 */
export function provisioningListener(config: PbxConfig, choice: ListenerChoice = 'default'): { scheme: 'http' | 'https'; port: number } {
  const ssl = config.api.ssl.enabled;
  if (choice === 'https' && ssl) return { scheme: 'https', port: config.api.port };
  if (choice === 'http' && !ssl) return { scheme: 'http', port: config.api.port };
  if (config.provisioning.http_port > 0) return { scheme: 'http', port: config.provisioning.http_port };
  return { scheme: ssl ? 'https' : 'http', port: config.api.port };
}

/** Why the config has no listener for this choice, or null when it has one. */
export function listenerProblem(config: PbxConfig, choice: ListenerChoice): string | null {
  if (choice === 'https' && !config.api.ssl.enabled) return 'there is no HTTPS listener: api.ssl is off (see pbx cert self-signed)';
  if (choice === 'http' && config.api.ssl.enabled && config.provisioning.http_port === 0) {
    return 'there is no plain-HTTP listener: the API uses HTTPS and provisioning.http_port is 0';
  }
  return null;
}

/** Where phones reach the provisioning server: the listener that serves /provision. */
export function provisioningEndpoint(config: PbxConfig, choice: ListenerChoice = 'default'): ProvisioningEndpoint {
  const { scheme, port } = provisioningListener(config, choice);
  const sample = fillUrlFormat(config, 'aabbccddeeff', port);
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
export function deriveConfigUrl(config: PbxConfig, mac: string, macForm: MacForm, choice: ListenerChoice = 'default'): string {
  const { scheme, port } = provisioningListener(config, choice);
  return fillUrlFormat(config, formatMac(mac, macForm), port).replace(/^https?:/i, `${scheme}:`);
}

function fillUrlFormat(config: PbxConfig, mac: string, port: number): string {
  const ip = config.server.external_ip;
  return config.provisioning.url_format
    .replace(/\{\{\s*SERVER_IP\s*\}\}/g, ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip)
    .replace(/\{\{\s*PORT\s*\}\}/g, String(port))
    .replace(/\{mac\}|\$mac\b/gi, mac);
}
