// Snom D7xx. Boot (reference/vendor-boot-and-resync.md, Wazo wazo_snom, Snom FAQ "Configuring
// snom phones for Mass Deployment"): the phone fetches its setting_server URL (DHCP 66/67,
// redirection service or set by hand), typically the model file snom<model>.htm; that file is
// an XML <setting-files> list naming the per-device file <MAC>.xml (Wazo also serves
// snom<model>-<MAC>.htm). MAC UPPERCASE. Format: XML <settings><phone-settings> with
// idx="N" per identity. Keys: Wazo wazo_snom/common/templates/base.tpl and FusionPBX
// snom/D785/{$mac}.xml (user_*, setting_server, settings_refresh_timer, update_policy,
// ntp_server, codec_priority_list, user_dtmf_info, language).
// Unverified: that the phone expands {mac} inside a <setting-files> URL (Snom documents the
// expansion for setting_server; the common file relies on it by design: a common file has no
// MAC); the exact default request sequence; Event `reboot` (from the reference). Not set: the
// time zone (Snom wants its own codes such as GER+1, which the site settings cannot give) and
// opus (absent from both sources' codec lists).
import { fileURLToPath } from 'node:url';
import type { ModelInfo, VendorProfile } from '../types.js';

const MAC = '(?<mac>[0-9a-f]{12})';
const XML = 'text/xml; charset=utf-8';

const models: ModelInfo[] = [{ id: 'D785', lines: 12 }];

const MODEL_IDS = models.map((m) => m.id).join('|');

export const snom: VendorProfile = {
  id: 'snom',
  name: 'Snom',
  macForm: 'upper',
  ouis: ['00:04:13', '00:08:7B'],
  models,
  format: 'xml',
  files: [
    {
      pattern: new RegExp(`^snom(${MODEL_IDS})\\.htm$`, 'i'),
      kind: 'common',
      template: 'snommodel.htm.liquid',
      contentType: XML,
      sensitive: false,
      modelsFromMatch: (m) => models.filter((x) => x.id.toLowerCase() === m[1]!.toLowerCase()).map((x) => x.id),
    },
    { pattern: new RegExp(`^${MAC}\\.xml$`, 'i'), kind: 'device', template: 'mac.xml.liquid', contentType: XML, sensitive: true },
    // Alias of the device file (the name Wazo's Snom plugin serves).
    { pattern: new RegExp(`^snom(?:${MODEL_IDS})-${MAC}\\.htm$`, 'i'), kind: 'device', template: 'mac.xml.liquid', contentType: XML, sensitive: true },
  ],
  deviceFile: (mac) => `${mac}.xml`,
  // A phone this server provisioned has setting_server = <base>/<MAC>.xml and boots straight to
  // it. A fresh phone pointed by DHCP/SRAPS at snom<model>.htm reads that <setting-files> list
  // first; it is left out here because its literal {mac} is for the phone to expand.
  bootSequence: (model, mac) => [`snom${model.id}.htm`, `${mac}.xml`],
  parseUserAgent(ua) {
    // "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)"
    const m = /\bsnom(\w+)-SIP\s+([\d.]+)/i.exec(ua);
    if (!m) return /\(compatible; snom/i.test(ua) ? {} : null;
    const mac = /\s([0-9A-F]{12})(?=[\s);]|$)/i.exec(ua.slice(m.index + m[0].length))?.[1]?.toLowerCase();
    return { model: m[1]!.toUpperCase(), firmware: m[2], mac };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'reboot', challenges: false },
  phoneMacros: ['{mac}'],
  urlHint:
    'Snom: set Advanced > Update > Setting URL (setting_server) to http://<ip>:<port>/provision/snom<model>.htm, or use DHCP options 66/67; {mac} in that URL is expanded by the phone.',
  templatesDir: fileURLToPath(new URL('./templates/', import.meta.url)),
};
