// Polycom / Poly VVX (UC Software 5.x/6.x). Boot order (Polycom SIP admin guide, "Master
// Configuration Files"; reference/vendor-config-keys.md): the phone asks for its own master
// file <mac>.cfg, else the default master 000000000000.cfg; the master's CONFIG_FILES list
// names the files it fetches next ([PHONE_MAC_ADDRESS] is expanded by the phone). Format: XML,
// parameters are attributes of any element. MAC lowercase by convention (either case accepted).
// Keys: FusionPBX polycom/vvx450/{$mac}.cfg and Wazo wazo_polycom/common/templates/base.tpl;
// prov.polling.* from the UC Software 5.8 admin guide ("Provisional Polling", period > 3600 s).
// Clock: tcpIpApp.sntp.gmtOffset (seconds, standard time) and daylightSavings.enable,
// fixedDayEnable, start/stop .month, .date (first day the rule may fall on), .dayOfWeek
// (1 = Sunday … 7 = Saturday; the VVX default start is date 8, dayOfWeek 1: 2nd Sunday),
// .dayOfWeek.lastInMonth, .time (hour) (UC Software admin guide, tcpIpApp.sntp.*; Wazo
// wazo_polycom common.py _format_tzinfo).
// Unverified: the reboot event `check-sync;reboot=true` (the reference only documents
// `check-sync`, which with checkSync.alwaysReboot="0" reboots only when a change needs it);
// voice.codecPref.Opus on a VVX450 (key seen in FusionPBX's CCX500 template only).
// Files: the account file is <mac>-user.cfg (Wazo wazo_polycom common.py
// _dev_specific_filename), a name the phone never writes. The phone itself uploads (PUT) and
// reads back at boot <mac>-phone.cfg (settings changed on the phone) and <mac>-web.cfg (on its
// web page), and uploads <mac>-app.log, <mac>-boot.log, <mac>-directory.xml, <mac>-calls.xml
// (Wazo's _PATH_REGEX; Polycom UC Software admin guide, "user settings / override files"):
// those are upload rules, stored per device and served back to that device's credential.
import { commonRule, macFile, oneOfNames, templatesBeside, uploadRule } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

// The brief for this vendor asks for application/xml (FusionPBX sends text/xml; phones accept both).
const XML = 'application/xml; charset=utf-8';

/** Common file named in 000000000000.cfg's CONFIG_FILES: site settings, no secrets (our own name). */
export const POLYCOM_SITE_FILE = 'polycom-site.cfg';

const models: ModelInfo[] = [{ id: 'VVX450', lines: 12 }];

/** The phone's own master file: it only names <mac>-user.cfg. */
const masterFile = macFile('', '.cfg', 'mac.cfg.liquid', XML, 'no secrets');
const accountFile = macFile('', '-user.cfg', 'mac-user.cfg.liquid', XML, 'secrets');
const TEXT = 'text/plain; charset=utf-8';

export const polycom: VendorProfile = {
  id: 'polycom',
  name: 'Polycom',
  macForm: 'lower',
  ouis: ['00:04:F2', '64:16:7F', '48:25:67'],
  models,
  format: 'xml',
  files: [
    masterFile,
    commonRule(/^000000000000\.cfg$/i, 'master.cfg.liquid', XML),
    commonRule(oneOfNames([POLYCOM_SITE_FILE]), 'site.cfg.liquid', XML),
    accountFile,
    uploadRule('-phone.cfg', XML),
    uploadRule('-web.cfg', XML),
    uploadRule('-directory.xml', XML),
    uploadRule('-calls.xml', XML),
    uploadRule('-app.log', TEXT),
    uploadRule('-boot.log', TEXT),
  ],
  deviceFile: accountFile.name,
  // A known phone gets its own master, so it never asks for 000000000000.cfg.
  bootSequence: (_model, mac) => [masterFile.name(mac), accountFile.name(mac)],
  parseUserAgent(ua) {
    // "FileTransport PolycomVVX-VVX_450-UA/6.3.1.8427 Type/Application" (no MAC: it is in the path)
    const m = /^FileTransport Polycom\w*-(\w*?)-UA\/([\d.]+)/i.exec(ua);
    if (!m) return null;
    return { model: m[1] ? m[1].replace(/_/g, '').toUpperCase() : undefined, firmware: m[2] };
  },
  resync: { sync: 'check-sync', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: ['[PHONE_MAC_ADDRESS]'],
  urlHint:
    'Polycom: set Provisioning Server (device.prov.serverName) to the folder, e.g. http://<ip>:<port>/provision/, or DHCP option 66; the phone asks for <mac>.cfg itself.',
  templatesDir: templatesBeside(import.meta.url),
};
