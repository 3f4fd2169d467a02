// How API answers show extensions and devices. Field names follow what existing users'
// scripts use (mac_address, extension_number, config_url …). Secrets never appear here.
import type { Pbx } from '../application.js';
import type { Extension } from '../pbx/extensions.js';
import type { Device } from '../provisioning/devices.js';
import type { SyncState } from '../provisioning/resync.js';
import { provisioningEndpoint } from '../provisioning/config-url.js';

/** The services these routes use (and nothing else of the application). */
export type ViewDeps = Pick<Pbx, 'config' | 'devices' | 'files' | 'provisioningAuth' | 'resync' | 'voicemail'>;

export function extensionView(pbx: ViewDeps, e: Extension) {
  return {
    number: e.number,
    name: e.name,
    enabled: e.enabled,
    voicemail_pin_set: pbx.voicemail.store.mailbox(e.number).hasPin || e.voicemailPin !== null,
    digest_algorithms: e.digestAlgorithms ? [...e.digestAlgorithms] : null,
    outbound_class: e.outboundClass,
    devices: pbx.devices.usingExtension(e.number).map((d) => d.mac),
    created_at: e.createdAt,
    updated_at: e.updatedAt,
  };
}

/** `syncState` from pbx.resync.state/states: it may need the file rendered, which a view must not do inline. */
export function deviceView(pbx: ViewDeps, d: Device, syncState: SyncState) {
  return {
    mac_address: d.mac,
    extension_number: d.lines[0] ?? null,
    lines: d.lines,
    vendor: d.vendor,
    model: d.model,
    label: d.label,
    config_url: pbx.files.configUrl(d),
    provisioning_server: provisioningEndpoint(pbx.config(), d.listener).baseUrl + '/',
    listener: d.listener,
    provisioning_username: d.credential.user,
    first_fetch_window_until: pbx.provisioningAuth.windowUntil(d),
    last_authenticated_at: d.authenticatedAt,
    overrides: d.overrides,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
    last_provisioned: d.lastProvisioned,
    last_ip: d.lastIp,
    last_user_agent: d.lastUserAgent,
    sync_state: syncState,
    last_fetch_port: d.lastFetchPort,
    resync_sent_at: d.resyncSentAt,
  };
}
