// Zultys ZIP 33G / ZIP 37G: Yealink OEM phones (packet capture in mattiIce/PBX: SIP UA
// "Zultys ZIP 33G - 47.80.132.4", web server "yealink embed httpd"; reference/
// vendor-user-agents.md and vendor-config-keys.md). They read Yealink's `key = value` files, so
// this profile renders the Yealink templates folder itself: copied templates drift.
// Boot order (reference/vendor-boot-and-resync.md, LOW confidence, one non-independent source):
// y000000000000.boot → y0000000000XX.cfg → zip33g_common.cfg / zip37g_common.cfg → <mac>.cfg.
// A known phone gets <mac>.boot (Yealink's mac.boot.liquid), which includes the model's
// zipNNg_common.cfg (Yealink's common.cfg.liquid) and <mac>.cfg. The y0000000000XX.cfg names
// are left to Yealink's own rule: the same template, and a second rule for them would make
// two vendors claim one file name.
// Unverified: the HTTP User-Agent (only the SIP UA was captured; the pattern also accepts a
// Yealink-like "Zultys ZIP33G 47.80.0.132 <mac>"), line counts (4 and 6 are assumptions),
// common ids (33G: 47, the leading number of its firmware; 37G: 28 because the reference says
// "ZIP 37G ≈ T46G"), the check-sync behaviour (assumed Yealink's).
import type { ModelInfo, VendorProfile } from '../types.js';
import { yealink } from '../yealink/profile.js';

const MAC = '(?<mac>[0-9a-f]{12})';
const TEXT = 'text/plain; charset=utf-8';

/** `zip33g_common.cfg` for the ZIP33G. */
export function zultysCommonFile(model: ModelInfo): string {
  return `${model.id.toLowerCase()}_common.cfg`;
}

const withCommonFile = (m: ModelInfo): ModelInfo => ({ ...m, vars: { ...m.vars, common_file: zultysCommonFile(m) } });

const models: ModelInfo[] = [
  { id: 'ZIP33G', lines: 4, vars: { common_id: 47 } },
  { id: 'ZIP37G', lines: 6, vars: { common_id: 28 } },
].map(withCommonFile);

export const zultys: VendorProfile = {
  id: 'zultys',
  name: 'Zultys',
  macForm: 'lower',
  ouis: ['00:0B:EA'],
  models,
  format: 'text',
  // Same rule shape and templates as Yealink; only the common file names are Zultys's.
  files: [
    { pattern: new RegExp(`^${MAC}\\.boot$`, 'i'), kind: 'device', template: 'mac.boot.liquid', contentType: TEXT, sensitive: false },
    {
      pattern: /^(zip\d+g)_common\.cfg$/i,
      kind: 'common',
      template: 'common.cfg.liquid',
      contentType: TEXT,
      sensitive: false,
      modelsFromMatch: (m) => models.filter((x) => x.id.toLowerCase() === m[1]!.toLowerCase()).map((x) => x.id),
    },
    { pattern: new RegExp(`^${MAC}\\.cfg$`, 'i'), kind: 'device', template: 'mac.cfg.liquid', contentType: TEXT, sensitive: true },
  ],
  deviceFile: (mac) => `${mac}.cfg`,
  bootSequence: (model, mac) => [`${mac}.boot`, zultysCommonFile(model), `${mac}.cfg`],
  parseUserAgent(ua) {
    // SIP: "Zultys ZIP 33G - 47.80.132.4"; HTTP (unverified): "Zultys ZIP33G 47.80.0.132 00:0b:ea:12:34:56"
    const m = /^Zultys[\s-]+ZIP\s?(\d+[A-Z]*)(?:\s*-)?(?:\s+([\d.]+))?(?:\s+([0-9a-f]{2}(?::?[0-9a-f]{2}){5}))?/i.exec(ua);
    if (!m) return /^Zultys\b/i.test(ua) ? {} : null;
    return { model: `ZIP${m[1]!.toUpperCase()}`, firmware: m[2], mac: m[3]?.replace(/:/g, '').toLowerCase() };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: [],
  urlHint:
    'Zultys ZIP: set Auto Provision > Server URL to the folder (e.g. http://<ip>:<port>/provision/), or DHCP option 66; the phone adds <mac>.boot/<mac>.cfg itself (Yealink firmware).',
  // Yealink's folder: one source of truth for both vendors' files.
  templatesDir: yealink.templatesDir,
};
