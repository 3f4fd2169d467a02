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
// MAC); the exact default request sequence; Event `reboot` (from the reference). Not set:
// opus (absent from both sources' codec lists).
// Clock: utc_offset (seconds) and dst `<save s> MM.WW.DD hh:mm:ss MM.WW.DD hh:mm:ss` (week 05 =
// last, day 01 = Monday … 07 = Sunday; https://service.snom.com/display/wiki/dst, "Format 1").
// Snom's `timezone` (its own codes such as USA-5, GER+1) is not set: the site gives an IANA
// zone, and Snom's wiki says dst is otherwise derived from `timezone`. Only hardware can say
// whether a D785 with `timezone` unset keeps the dst given here; Wazo sets both.
import { XML, deviceRule, macFile, macFileName, macFromUserAgent, perModelCommonRule, templatesBeside } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

const models: ModelInfo[] = [{ id: 'D785', lines: 12 }];

/** `snomD785.htm`: the model file a fresh phone is pointed at. */
const modelFile = (model: ModelInfo): string => `snom${model.id}.htm`;
const accountFile = macFile('', '.xml', 'mac.xml.liquid', XML, 'secrets');

export const snom: VendorProfile = {
  id: 'snom',
  name: 'Snom',
  macForm: 'upper',
  ouis: ['00:04:13', '00:08:7B'],
  models,
  format: 'xml',
  files: [
    perModelCommonRule(models, modelFile, 'snommodel.htm.liquid', XML),
    accountFile,
    // Alias of the device file (the name Wazo's Snom plugin serves).
    deviceRule(macFileName(models.map((m) => `snom${m.id}-`), '.htm'), 'mac.xml.liquid', XML, 'secrets'),
  ],
  deviceFile: accountFile.name,
  // A phone this server provisioned has setting_server = <base>/<MAC>.xml and boots straight to
  // it. A fresh phone pointed by DHCP/SRAPS at snom<model>.htm reads that <setting-files> list
  // first; it is left out here because its literal {mac} is for the phone to expand.
  bootSequence: (model, mac) => [modelFile(model), accountFile.name(mac)],
  parseUserAgent(ua) {
    // "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)"
    const m = /\bsnom(\w+)-SIP\s+([\d.]+)/i.exec(ua);
    if (!m) return /\(compatible; snom/i.test(ua) ? {} : null;
    const mac = macFromUserAgent(/\s([0-9A-F]{12})(?=[\s);]|$)/i.exec(ua.slice(m.index + m[0].length))?.[1]);
    return { model: m[1]!.toUpperCase(), firmware: m[2], mac };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'reboot', challenges: false },
  phoneMacros: ['{mac}'],
  urlHint:
    'Snom: set Advanced > Update > Setting URL (setting_server) to http://<ip>:<port>/provision/snom<model>.htm, or use DHCP options 66/67; {mac} in that URL is expanded by the phone.',
  templatesDir: templatesBeside(import.meta.url),
};
