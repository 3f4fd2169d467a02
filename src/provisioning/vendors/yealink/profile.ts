// Yealink T2x/T3x/T4x/T5x. Boot order (Yealink admin guide, "Boot Files"): <mac>.boot,
// else y000000000000.boot; the boot file's include:config lines name the model's common
// file y0000000000NN.cfg (NN = leading number of the firmware version) and <mac>.cfg.
// Format: `key = value`, first line `#!version:1.0.0.1`. MAC lowercase, no separators.
import { fileURLToPath } from 'node:url';
import type { ModelInfo, VendorProfile } from '../types.js';

const MAC = '(?<mac>[0-9a-f]{12})';
const TEXT = 'text/plain; charset=utf-8';

/** `y000000000066.cfg` → the models whose firmware family is 66. */
export function yealinkCommonFile(model: ModelInfo): string {
  return `y${String(model.vars?.common_id ?? 0).padStart(12, '0')}.cfg`;
}

export function modelsByCommonId(models: ModelInfo[]) {
  return (m: RegExpExecArray): string[] => {
    const id = Number(m[1]);
    return models.filter((x) => Number(x.vars?.common_id ?? -1) === id).map((x) => x.id);
  };
}

const withCommonFile = (m: ModelInfo): ModelInfo => ({ ...m, vars: { ...m.vars, common_file: yealinkCommonFile(m) } });

const models: ModelInfo[] = [
  { id: 'T23G', lines: 3, vars: { common_id: 44 } },
  // No public source names a T28G common file; T28-family firmware 2.x reads the generic y000000000000.cfg.
  { id: 'T28G', lines: 6, vars: { common_id: 0 } },
  { id: 'T33G', lines: 4, vars: { common_id: 124 } },
  { id: 'T46S', lines: 16, vars: { common_id: 66 } },
  { id: 'T54W', lines: 16, vars: { common_id: 96 } },
].map(withCommonFile);

export const yealink: VendorProfile = {
  id: 'yealink',
  name: 'Yealink',
  macForm: 'lower',
  ouis: ['00:15:65', '24:9A:D8', '80:5E:0C', '80:5E:C0', '44:DB:D2'],
  models,
  format: 'text',
  files: [
    { pattern: new RegExp(`^${MAC}\\.boot$`, 'i'), kind: 'device', template: 'mac.boot.liquid', contentType: TEXT, sensitive: false },
    { pattern: /^y000000000000\.boot$/i, kind: 'common', template: 'common.boot.liquid', contentType: TEXT, sensitive: false },
    {
      pattern: /^y(\d{12})\.cfg$/i,
      kind: 'common',
      template: 'common.cfg.liquid',
      contentType: TEXT,
      sensitive: false,
      modelsFromMatch: modelsByCommonId(models),
    },
    { pattern: new RegExp(`^${MAC}\\.cfg$`, 'i'), kind: 'device', template: 'mac.cfg.liquid', contentType: TEXT, sensitive: true },
  ],
  deviceFile: (mac) => `${mac}.cfg`,
  bootSequence: (model, mac) => [`${mac}.boot`, yealinkCommonFile(model), `${mac}.cfg`],
  parseUserAgent(ua) {
    // "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "Yealink SIP-T54W 96.86.0.70 805ec0123456"
    const m = /^yealink[\s-](?:SIP[\s-]|SIP VP-)?([A-Z0-9_]+)\s+([\d.]+)(?:\s+([0-9a-f]{2}(?::?[0-9a-f]{2}){5}))?/i.exec(ua);
    if (!m) return null;
    return { model: m[1]!.replace(/_.*$/, ''), firmware: m[2], mac: m[3]?.replace(/:/g, '').toLowerCase() };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: [],
  urlHint:
    'Yealink: set Auto Provision > Server URL to the folder (e.g. http://<ip>:<port>/provision/), or DHCP option 66; the phone adds <mac>.boot/<mac>.cfg itself. Inside a file URL use $mac, not {mac}.',
  templatesDir: fileURLToPath(new URL('./templates/', import.meta.url)),
};
