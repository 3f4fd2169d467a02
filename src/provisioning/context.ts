// The variables a phone template can use. Common files get CommonContext (no secrets);
// per-device files get DeviceContext. docs/PROVISIONING.md lists them; the template
// catalog refuses a template that names anything else.
import type { PbxConfig } from '../config/schema.js';
import type { ModelInfo, VendorProfile } from './vendors/types.js';
import type { ProvisioningEndpoint } from './config-url.js';
import { zoneRule, type DstChange, type ZoneRule } from '../util/zone-rule.js';

export interface LineContext {
  index: number;
  number: string;
  name: string;
  label: string;
  user: string;
  auth_user: string;
  password: string;
  /** The extension has a mailbox: the phone gets the voicemail number and subscribes to message waiting. */
  voicemail: boolean;
}

export interface CommonContext {
  vendor: { id: string; name: string };
  /** The firmware the file is rendered for (`version` empty when unknown) and what its vendor says of it. */
  firmware: { version: string } & Record<string, string | number | boolean>;
  model?: { id: string; lines: number } & Record<string, string | number | boolean>;
  server: { name: string };
  sip: { server: string; port: number; transport: string; expires: number; voicemail_number: string };
  provisioning: {
    base_url: string;
    scheme: string;
    host: string;
    port: number;
    /** `host:port/path` without scheme, for vendors whose key takes no scheme (Grandstream P237). */
    host_path: string;
    interval_minutes: number;
    interval_seconds: number;
  };
  site: {
    timezone: string;
    ntp_server: string;
    language: string;
    codecs: string[];
    /** Known codecs not in `codecs`, for vendors that need each switched off explicitly. */
    codecs_off: string[];
    dtmf_mode: string;
    /** `+1`, `-5`, `+5:30`: the offset as most phone UIs write it. */
    utc_offset_text: string;
    utc_offset_minutes: number;
    utc_offset_hours: number;
    utc_offset_seconds: number;
    /** The zone's daylight-saving rule (enabled false where the zone keeps one offset all year). */
    dst: DstContext;
    /** The zone as a POSIX TZ string (`EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00`). */
    posix_tz: string;
  };
}

/** One change of clocks, in the forms vendors ask for; weekdays in three numberings. */
export interface DstChangeContext {
  month: number;
  /** 1–4: the nth weekday of the month; 5: the last; 0: a fixed date (`day`). */
  week: number;
  last: boolean;
  /** First day of the month the change may fall on: (week − 1) × 7 + 1; for `last`, −1. */
  on_or_after: number;
  day: number;
  /** 1 = Monday … 7 = Sunday (ISO; Yealink, Cisco, Snom). */
  weekday: number;
  /** 0 = Sunday … 6 = Saturday (POSIX; Fanvil). */
  weekday_sun0: number;
  /** 1 = Sunday … 7 = Saturday (Polycom). */
  weekday_sun1: number;
  hour: number;
  minute: number;
}

export interface DstContext {
  enabled: boolean;
  /** The rule is a fixed date each year (no weekday). */
  fixed: boolean;
  save_minutes: number;
  save_seconds: number;
  start: DstChangeContext;
  end: DstChangeContext;
}

export interface DeviceContext extends CommonContext {
  model: { id: string; lines: number } & Record<string, string | number | boolean>;
  /** The device's own listener, plus the credential its later fetches must show. */
  provisioning: CommonContext['provisioning'] & { username: string; password: string };
  mac: string;
  mac_lower: string;
  mac_upper: string;
  mac_colon: string;
  device: { label: string };
  /** The URL this phone's file points it back at (derived from the live config). */
  config_url: string;
  line: LineContext;
  lines: LineContext[];
  overrides: { key: string; value: string }[];
}

export function modelContext(model: ModelInfo): DeviceContext['model'] {
  return { ...(model.vars ?? {}), id: model.id, lines: model.lines };
}

export function commonContext(
  config: PbxConfig,
  vendor: VendorProfile,
  endpoint: ProvisioningEndpoint,
  model?: ModelInfo,
  firmware?: string,
): CommonContext {
  const site = config.provisioning.site;
  const rule = zoneRule(site.timezone);
  const offset = rule.standardMinutes;
  const interval = config.provisioning.resync_interval_minutes;
  return {
    vendor: { id: vendor.id, name: vendor.name },
    firmware: firmwareContext(vendor, firmware),
    ...(model ? { model: modelContext(model) } : {}),
    server: { name: config.server.name },
    sip: {
      server: config.server.external_ip,
      // A phone told to use TLS must be given the TLS listener's port.
      port: config.server.sip_transport === 'tls' && config.server.sip_tls_port > 0 ? config.server.sip_tls_port : config.server.sip_port,
      transport: config.server.sip_transport,
      expires: 3600,
      voicemail_number: config.voicemail.access_code,
    },
    provisioning: {
      base_url: endpoint.baseUrl,
      scheme: endpoint.scheme,
      host: endpoint.host,
      port: endpoint.port,
      host_path: endpoint.baseUrl.replace(/^https?:\/\//, ''),
      interval_minutes: interval,
      interval_seconds: interval * 60,
    },
    site: {
      timezone: site.timezone,
      ntp_server: site.ntp_server,
      language: site.language,
      codecs: [...site.codecs],
      codecs_off: ALL_CODECS.filter((c) => !site.codecs.includes(c as never)),
      dtmf_mode: site.dtmf_mode,
      utc_offset_text: offsetText(offset),
      utc_offset_minutes: offset,
      utc_offset_hours: offset / 60,
      utc_offset_seconds: offset * 60,
      dst: dstContext(rule),
      posix_tz: rule.posix,
    },
  };
}

const ALL_CODECS = ['PCMU', 'PCMA', 'G722', 'G729', 'opus'];

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const h = Math.floor(abs / 60);
  const m = abs % 60;
  return `${sign}${h}${m ? `:${String(m).padStart(2, '0')}` : ''}`;
}

export function firmwareContext(vendor: VendorProfile, version: string | undefined): CommonContext['firmware'] {
  return { ...(vendor.firmwareVars?.(version) ?? {}), version: version ?? '' };
}

function changeContext(c: DstChange | undefined): DstChangeContext {
  if (!c) return { month: 0, week: 0, last: false, on_or_after: 0, day: 0, weekday: 0, weekday_sun0: 0, weekday_sun1: 0, hour: 0, minute: 0 };
  return {
    month: c.month,
    week: c.week,
    last: c.week === 5,
    on_or_after: c.week === 5 ? -1 : c.week === 0 ? c.day : (c.week - 1) * 7 + 1,
    day: c.day,
    weekday: c.weekday,
    weekday_sun0: c.weekday % 7,
    weekday_sun1: (c.weekday % 7) + 1,
    hour: c.hour,
    minute: c.minute,
  };
}

function dstContext(rule: ZoneRule): DstContext {
  const dst = rule.dst;
  return {
    enabled: dst !== null,
    fixed: dst?.start.week === 0,
    save_minutes: dst?.saveMinutes ?? 0,
    save_seconds: (dst?.saveMinutes ?? 0) * 60,
    start: changeContext(dst?.start),
    end: changeContext(dst?.end),
  };
}

export interface DeviceFacts {
  mac: string;
  label: string | null;
  overrides: Record<string, string>;
  credential: { user: string; password: string };
}

/**
 * What a device's context adds to the one its vendor, model and firmware share: all a
 * render thread needs per phone, beside a shared context it was sent once (render-threads.ts).
 */
export type DeviceOwnContext = Omit<DeviceContext, keyof CommonContext> & { credential: { username: string; password: string } };

export function deviceOwnContext(device: DeviceFacts, macInVendorForm: string, configUrl: string, lines: LineContext[]): DeviceOwnContext {
  const first = lines[0];
  if (!first) throw new Error('a device needs at least one line');
  return {
    credential: { username: device.credential.user, password: device.credential.password },
    mac: macInVendorForm,
    mac_lower: device.mac,
    mac_upper: device.mac.toUpperCase(),
    mac_colon: device.mac.replace(/(..)(?!$)/g, '$1:'),
    device: { label: device.label ?? first.label },
    config_url: configUrl,
    line: first,
    lines,
    overrides: Object.entries(device.overrides).map(([key, value]) => ({ key, value })),
  };
}

/** A device's whole context: the shared one (made with the device's model) and its own part. */
export function withShared(common: CommonContext, own: DeviceOwnContext): DeviceContext {
  const { credential, ...rest } = own;
  if (!common.model) throw new Error('a device context needs its model in the shared context');
  return {
    ...common,
    provisioning: { ...common.provisioning, ...credential },
    model: common.model,
    ...rest,
  };
}
