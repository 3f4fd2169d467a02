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
import { TEXT, UA_MAC, commonRule, macFromUserAgent, modelsNamed, withCommonFiles } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';
import { yealink, yealinkDeviceFiles } from '../yealink/profile.js';

/** `zip33g_common.cfg` for the ZIP33G. */
export function zultysCommonFile(model: ModelInfo): string {
  return `${model.id.toLowerCase()}_common.cfg`;
}

const USER_AGENT = new RegExp(`^Zultys[\\s-]+ZIP\\s?(\\d+[A-Z]*)(?:\\s*-)?(?:\\s+([\\d.]+))?(?:\\s+(${UA_MAC}))?`, 'i');

const models = withCommonFiles(
  [
    { id: 'ZIP33G', lines: 4, vars: { common_id: 47 } },
    {
      id: 'ZIP37G',
      lines: 6,
      vars: { common_id: 28 },
      // The one exported ZIP37G configuration found (quoted in mattiIce/PBX's notes on Zultys
      // formats) is INI sections (`[ account ] SIPServerHost=…`), as older Zultys ZIP2x2/ZIP4x5
      // files are ([SIP_CONFIG] …, ZIP2x2 user manual appendix C); no source shows it reading
      // Yealink's `key = value`. Served as Yealink until hardware settles it.
      experimental:
        'its configuration format is not settled: the only exported ZIP37G configuration found uses INI sections, not the Yealink key = value files served here',
    },
  ],
  zultysCommonFile,
);

// Yealink firmware: the MAC form, format, account file, resync events, phone macros and the
// templates folder (one source of truth for both vendors' files) are Yealink's, by import.
// What follows is Zultys's own: names, OUI, models, common file names, User-Agent, URL hint.
export const zultys: VendorProfile = {
  ...yealink,
  id: 'zultys',
  name: 'Zultys',
  ouis: ['00:0B:EA'],
  models,
  files: [
    yealinkDeviceFiles.boot,
    // Any ZIP model's file, also for models not listed (they get the generic common file).
    commonRule(/^(zip\d+g)_common\.cfg$/i, 'common.cfg.liquid', TEXT, modelsNamed(models, (m) => m.id)),
    yealinkDeviceFiles.account,
  ],
  bootSequence: (model, mac) => [yealinkDeviceFiles.boot.name(mac), zultysCommonFile(model), yealinkDeviceFiles.account.name(mac)],
  parseUserAgent(ua) {
    // SIP: "Zultys ZIP 33G - 47.80.132.4"; HTTP (unverified): "Zultys ZIP33G 47.80.0.132 00:0b:ea:12:34:56"
    const m = USER_AGENT.exec(ua);
    if (!m) return /^Zultys\b/i.test(ua) ? {} : null;
    return { model: `ZIP${m[1]!.toUpperCase()}`, firmware: m[2], mac: macFromUserAgent(m[3]) };
  },
  urlHint:
    'Zultys ZIP: set Auto Provision > Server URL to the folder (e.g. http://<ip>:<port>/provision/), or DHCP option 66; the phone adds <mac>.boot/<mac>.cfg itself (Yealink firmware).',
};
