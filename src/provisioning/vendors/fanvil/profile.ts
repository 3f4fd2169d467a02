// Fanvil X-series. Boot (reference/vendor-config-keys.md, Wazo wazo_fanvil serie_x COMMON_FILES):
// a model/hardware common file first, then <mac>.cfg (lowercase). Format: current firmware
// (>= 2.2.10) reads XML <sysConf>; accounts under <sip><line index="N">. Keys: FusionPBX
// fanvil/x4u/{$mac}.cfg and Wazo wazo_fanvil/common/templates/base-new.tpl (<ap> auto-provision
// block, <phone><date> SNTP; Transport 0/1/3; DTMFMode 0 in-band / 1 RFC2833 / 2 SIP INFO;
// TimeZone in quarter hours with names UCT / UTC+N / UTC-0N from Wazo serie_x _TZ_INFO).
// Unverified: the X4U common-file name (Wazo lists f0X4hw1.100.cfg for the X4 and
// fanvil_x4u_v2_hwv2_0.txt, a firmware descriptor, for the X4U-V2; nothing for the X4U, so
// f0X4Uhw1.100.cfg follows the X4 pattern); what FlashMode=1 / FlashInterval=1 mean exactly
// (both sources set them; neither documents the unit, so the site's interval is not mapped);
// FlashProtocol 4 = HTTP / 5 = HTTPS (inferred from the URLs each source pairs them with);
// how the phone merges the override elements appended after the main sections; opus's name in
// VoiceCodecMap (left out).
// Clock: <date> EnableDST 2 / 0, DSTFixedType 2, DSTMinOffset, DST{Start,End}{Mon,Week (−1 =
// last),Wday,Hour} (Wazo wazo_fanvil base-new.tpl). Wday 0 = Sunday is inferred (Wazo derives
// it as its other plugins' Sunday-first weekday − 1); no Fanvil document was found to confirm.
import { XML, macFile, macFromUserAgent, perModelCommonRule, templatesBeside } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

// No source names the X4U's common file (see above): f0X4Uhw1.100.cfg follows Wazo's X4 pattern.
const models: ModelInfo[] = [{ id: 'X4U', lines: 6, vars: { common_file: 'f0X4Uhw1.100.cfg' } }];

const commonFile = (model: ModelInfo): string => String(model.vars?.common_file);
const accountFile = macFile('', '.cfg', 'mac.cfg.liquid', XML, 'secrets');

export const fanvil: VendorProfile = {
  id: 'fanvil',
  name: 'Fanvil',
  macForm: 'lower',
  ouis: ['0C:38:3E', '00:A8:59'],
  models,
  format: 'xml',
  files: [perModelCommonRule(models, commonFile, 'common.cfg.liquid', XML), accountFile],
  deviceFile: accountFile.name,
  bootSequence: (model, mac) => [commonFile(model), accountFile.name(mac)],
  parseUserAgent(ua) {
    // "Fanvil X4U 2.12.16.17 0c383e557eb1", "Fanvil X6U Pro 0.0.10 0c383e2cd782"
    const m = /^Fanvil\s+(.+?)\s+([\d.]+)\s+([0-9a-f]{12})\s*$/i.exec(ua);
    if (!m) return /^Fanvil\b/i.test(ua) ? {} : null;
    return { model: m[1]!.replace(/\s+/g, '-').toUpperCase(), firmware: m[2], mac: macFromUserAgent(m[3]) };
  },
  resync: { sync: 'check-sync', reboot: 'check-sync;reboot=true', challenges: false },
  phoneMacros: ['$mac'],
  urlHint:
    'Fanvil: set Maintenance > Auto Provision > Server URL to http://<ip>:<port>/provision (or DHCP option 66); the phone adds <mac>.cfg itself.',
  templatesDir: templatesBeside(import.meta.url),
};
