// Snom D7xx. Boot (reference/vendor-boot-and-resync.md, Wazo wazo_snom, Snom FAQ "Configuring
// snom phones for Mass Deployment"): the phone fetches its setting_server URL (DHCP 66/67,
// redirection service or set by hand). Snom documents the {mac} placeholder in setting_server
// (https://service.snom.com/display/wiki/setting_server), nowhere else: so the model file
// snom<model>.htm a fresh phone may be pointed at is a settings file that moves setting_server
// to <base>/{mac}.xml with a 60 s settings_refresh_timer; the phone then fetches <MAC>.xml (the
// account) within a minute, and that file sets the site's interval. Pointing setting_server
// (DHCP option 66/67, SRAPS) straight at <base>/{mac}.xml skips the first step. Wazo's
// snom<model>-<MAC>.htm is served too (the account file under that name). MAC UPPERCASE.
// Format: XML <settings><phone-settings> with
// idx="N" per identity. Keys: Wazo wazo_snom/common/templates/base.tpl and FusionPBX
// snom/D785/{$mac}.xml (user_*, setting_server, settings_refresh_timer, update_policy,
// ntp_server, codec_priority_list, user_dtmf_info, language).
// Resync: `check-sync;reboot=false` to sync, `check-sync;reboot=true` to reboot (FusionPBX
// app/switch/resources/scripts/app/event_notify/index.lua, vendor "snom"; Wazo sends check-sync).
// Unverified: that a phone which got a new setting_server applies it at the next refresh rather
// than at once (either way within the 60 s timer); the exact default request sequence. Not set:
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
  // A fresh phone pointed at snom<model>.htm, then (setting_server moved) its own file.
  bootSequence: (model, mac) => [modelFile(model), accountFile.name(mac)],
  parseUserAgent(ua) {
    // "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)"
    const m = /\bsnom(\w+)-SIP\s+([\d.]+)/i.exec(ua);
    if (!m) return /\(compatible; snom/i.test(ua) ? {} : null;
    const mac = macFromUserAgent(/\s([0-9A-F]{12})(?=[\s);]|$)/i.exec(ua.slice(m.index + m[0].length))?.[1]);
    return { model: m[1]!.toUpperCase(), firmware: m[2], mac };
  },
  resync: { sync: 'check-sync;reboot=false', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: ['{mac}'],
  urlHint:
    'Snom: set Advanced > Update > Setting URL (setting_server) to http://<ip>:<port>/provision/{mac}.xml (the phone expands {mac}), or to .../snom<model>.htm, or give either by DHCP options 66/67.',
  templatesDir: templatesBeside(import.meta.url),
};
