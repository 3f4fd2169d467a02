// Yealink T2x/T3x/T4x/T5x. Boot order (Yealink admin guide, "Boot Files"): <mac>.boot,
// else y000000000000.boot; the boot file's include:config lines name the model's common
// file y0000000000NN.cfg (NN = leading number of the firmware version) and <mac>.cfg.
// Format: `key = value`, first line `#!version:1.0.0.1`. MAC lowercase, no separators.
// Clock: local_time.time_zone (standard offset), summer_time 1/0, dst_time_type 1 (by week),
// start_time/end_time `month/week(5 = last)/weekday(1 = Mon … 7 = Sun)/hour`, offset_time in
// minutes (Yealink "Administrator's Guide for SIP-T2/T4/T5 Series", DST Configuration; Wazo
// wazo_yealink common.py _format_tz_info). No time_zone_name: its names are Yealink's own
// ("United States-Eastern Time"), and with summer_time = 1 the explicit rule applies.
import { TEXT, UA_MAC, commonRule, macFile, macFromUserAgent, modelsNamed, templatesBeside, withCommonFiles, type MacFile } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

/** The model's firmware family, 12 digits: 66 → `000000000066`. */
const familyId = (model: ModelInfo): string => String(model.vars?.common_id ?? 0).padStart(12, '0');

/** `y000000000066.cfg` for the models whose firmware family is 66. */
export function yealinkCommonFile(model: ModelInfo): string {
  return `y${familyId(model)}.cfg`;
}

/**
 * Per-device files of Yealink firmware: the boot file (no secrets) and the account file.
 * Zultys phones run the same firmware and use these rules too.
 */
export const yealinkDeviceFiles: { boot: MacFile; account: MacFile } = {
  boot: macFile('', '.boot', 'mac.boot.liquid', TEXT, 'no secrets'),
  account: macFile('', '.cfg', 'mac.cfg.liquid', TEXT, 'secrets'),
};

// `Yealink SIP-<model> <firmware> <mac>`; SIP User-Agents and old firmware leave the MAC out.
const USER_AGENT = new RegExp(`^yealink[\\s-](?:SIP[\\s-]|SIP VP-)?([A-Z0-9_]+)\\s+([\\d.]+)(?:\\s+(${UA_MAC}))?`, 'i');
// DECT and video bases whose firmware sends no vendor name (Wazo provd's Yealink plugin):
// only with the MAC, which says more than the model token alone.
const NAMELESS_USER_AGENT = new RegExp(`^(W52P|VP530P?)\\s+([\\d.]+)\\s+(${UA_MAC})$`, 'i');

const models = withCommonFiles(
  [
    { id: 'T23G', lines: 3, vars: { common_id: 44 } },
    // No public source names a T28G common file; T28-family firmware 2.x reads the generic y000000000000.cfg.
    { id: 'T28G', lines: 6, vars: { common_id: 0 } },
    { id: 'T33G', lines: 4, vars: { common_id: 124 } },
    { id: 'T46S', lines: 16, vars: { common_id: 66 } },
    { id: 'T54W', lines: 16, vars: { common_id: 96 } },
  ],
  yealinkCommonFile,
);

/**
 * Keys by firmware generation, the second number of the version (`46.80.0.110` → 80; Wazo
 * keeps one plugin per line, wazo_yealink v73 … v87). From 81 the provisioning keys carry
 * `static.` (v81+/v82+ base.tpl `static.auto_provision.*`); up to 80 they do not (FusionPBX
 * yealink/t28p, w52p … `auto_provision.server.*`; Wazo v73/v80 `auto_provision.*`).
 * Unknown (no User-Agent seen yet, or TFTP): both forms; each firmware ignores the other.
 */
export function yealinkFirmwareVars(version: string | undefined): { generation: number; keys: 'static' | 'plain' | 'both' } {
  const generation = Number(/^\d+\.(\d+)\./.exec(version ?? '')?.[1] ?? 0);
  return { generation, keys: generation === 0 ? 'both' : generation >= 81 ? 'static' : 'plain' };
}

export const yealink: VendorProfile = {
  id: 'yealink',
  name: 'Yealink',
  macForm: 'lower',
  ouis: ['00:15:65', '24:9A:D8', '80:5E:0C', '80:5E:C0', '44:DB:D2'],
  models,
  format: 'text',
  files: [
    yealinkDeviceFiles.boot,
    commonRule(/^y000000000000\.boot$/i, 'common.boot.liquid', TEXT),
    // Any family's file, also for models not listed (they get the generic common file).
    commonRule(/^y(\d{12})\.cfg$/i, 'common.cfg.liquid', TEXT, modelsNamed(models, familyId)),
    yealinkDeviceFiles.account,
  ],
  deviceFile: yealinkDeviceFiles.account.name,
  bootSequence: (model, mac) => [yealinkDeviceFiles.boot.name(mac), yealinkCommonFile(model), yealinkDeviceFiles.account.name(mac)],
  firmwareVars: yealinkFirmwareVars,
  parseUserAgent(ua) {
    // "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "Yealink SIP-T54W 96.86.0.70 805ec0123456",
    // "W52P 25.30.0.2 00:15:65:44:b3:7c". `_E2` is part of the model: the T19P E2 is not a T19P.
    const m = USER_AGENT.exec(ua) ?? NAMELESS_USER_AGENT.exec(ua);
    if (!m) return null;
    return { model: m[1], firmware: m[2], mac: macFromUserAgent(m[3]) };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: [],
  urlHint:
    'Yealink: set Auto Provision > Server URL to the folder (e.g. http://<ip>:<port>/provision/), or DHCP option 66; the phone adds <mac>.boot/<mac>.cfg itself. Inside a file URL use $mac, not {mac}.',
  templatesDir: templatesBeside(import.meta.url),
};
