// Cisco SPA5xx phones and SPA1xx / ATA19x adapters. Boot (Cisco SPA100/SPA500 admin guides;
// reference/vendor-config-keys.md): the factory Profile_Rule is /spa$PSN.cfg (PSN = product
// series, e.g. spa504G.cfg, spa112.cfg). One resync walks Profile_Rule, then _B, _C, _D with
// what each fetched file set (Wazo wazo_cisco_spa chains its per-device file in _C): the
// common file points Profile_Rule and _B at <base>/$MA.xml ($MA = MAC, lowercase hex), so
// the device file with the accounts comes in the same first resync; that file moves
// Profile_Rule there with its provisioning credential ([--uid … --pwd …]). Format: XML
// <flat-profile>, element names = web-UI names with `_` and a `_N_` line suffix.
// Keys: FusionPBX cisco/spa504g/{$mac}.xml and spa112/{$mac}.xml, Wazo wazo_cisco_spa
// (base.tpl, spa-phone.xml; Time_Zone as GMT+HH:MM from common.py). The phone answers a
// resync/reboot NOTIFY with a 401 challenge (Linksys SPA921 provisioning guide).
// Clock: Time_Zone GMT±HH:MM (standard offset), Daylight_Saving_Time_Enable yes/no,
// Daylight_Saving_Time_Rule `start=month/day/weekday/HH:mm:ss;end=…;save=H:m:s` where weekday
// is 1 = Mon … 7 = Sun and day the first date the weekday may fall on, −1 = the last one
// (SPA9x2/SPA500 admin guides, "Daylight Saving Time Rule"; Wazo wazo_cisco_spa common.py).
// Resync events: `resync` and `reboot_now` (Linksys SPA921 provisioning guide; Asterisk's
// sip_notify.conf linksys-cold-restart). FusionPBX sends `reboot=true` for both to "cisco-spa"
// and Wazo `check-sync`: only hardware can say which the SPA firmware also accepts, so the
// vendor's documented events are kept.
// Unverified: ata191.cfg / ata192.cfg (ATA19x run multiplatform firmware; the reference gives
// no default Profile_Rule for them), the ATA19x User-Agent, and the same flat-profile names
// on ATA19x; G.722 support per model is from datasheets (SPA112/122 have none), not tested.
import { XML, macFile, macFromUserAgent, perModelCommonRule, templatesBeside } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

const models: ModelInfo[] = [
  { id: 'SPA504G', lines: 4, vars: { common_file: 'spa504G.cfg', g722: true } },
  { id: 'SPA112', lines: 2, vars: { common_file: 'spa112.cfg', g722: false } },
  { id: 'SPA122', lines: 2, vars: { common_file: 'spa122.cfg', g722: false } },
  // Unverified file names and codec set (see above).
  { id: 'ATA191', lines: 2, vars: { common_file: 'ata191.cfg', g722: false } },
  { id: 'ATA192', lines: 2, vars: { common_file: 'ata192.cfg', g722: false } },
];

const commonFile = (model: ModelInfo): string => String(model.vars?.common_file ?? `spa${model.id.replace(/^SPA/i, '')}.cfg`);
/** `<base>/$MA.xml`, where the common file points Profile_Rule. */
const accountFile = macFile('', '.xml', 'mac.xml.liquid', XML, 'secrets');

// "Cisco/SPA504G-7.5.5 (0002FDFF2103)(CBT141400UK)", "Linksys/SPA-942-6.1.5(a) (88019FA42805)":
// with two groups the first is the MAC, a single group is the serial number.
const SPA_USER_AGENT = /^(?:Cisco|Linksys)\/([A-Z]+-?\d+[A-Z0-9]*)-(\S+)\s*(?:\(([0-9A-F]{12})\))?\s*\((\w+)\)/i;
// MPP phones on 3PCC firmware (not provisioned here; recognised for the adoption list):
// "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", the MAC in lower case.
const MPP_USER_AGENT = /^Cisco-(CP-\d{4}\w*-3PCC)\/(\S+)(?:\s*\(([0-9a-f]{12})\))?/i;

export const cisco: VendorProfile = {
  id: 'cisco',
  name: 'Cisco',
  macForm: 'lower',
  // Cisco has >1,100 OUIs; these are the ones in the reference's UA samples (SPA, MPP) and
  // the Linksys OUI Cisco uses in its own SPA macro examples.
  ouis: ['00:02:FD', '88:43:E1', '00:56:2B', '00:0E:08'],
  models,
  format: 'xml',
  files: [perModelCommonRule(models, commonFile, 'spa.cfg.liquid', XML), accountFile],
  deviceFile: accountFile.name,
  bootSequence: (model, mac) => [commonFile(model), accountFile.name(mac)],
  parseUserAgent(ua) {
    const spa = SPA_USER_AGENT.exec(ua);
    if (spa) return { model: spa[1]!.replace(/-/g, '').toUpperCase(), firmware: spa[2], mac: macFromUserAgent(spa[3]) };
    const mpp = MPP_USER_AGENT.exec(ua);
    if (mpp) return { model: mpp[1]!.toUpperCase(), firmware: mpp[2], mac: macFromUserAgent(mpp[3]) };
    return /^(?:Cisco|Linksys)[/-]/i.test(ua) ? {} : null;
  },
  resync: { sync: 'resync', reboot: 'reboot_now', challenges: true },
  phoneMacros: ['$MA', '$PSN'],
  urlHint:
    'Cisco SPA/ATA: set Provisioning > Profile Rule to http://<ip>:<port>/provision/$MA.xml (or serve spa$PSN.cfg via DHCP option 66); keep Provision Enable = Yes.',
  templatesDir: templatesBeside(import.meta.url),
};
