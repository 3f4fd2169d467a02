// Grandstream GXP phones and HT80x adapters. Boot (Grandstream "SIP Device Provisioning
// Guide", HT801/802 manual; reference/vendor-boot-and-resync.md): cfg<mac> (legacy binary,
// not served) then cfg<mac>.xml; only if that fails cfg<model>.xml, then the generic cfg.xml.
// MAC lowercase. Format: XML <gs_provision version="1"> with P-values in <config version="1">.
// P-values: account 1 from the reference (FusionPBX grandstream/gxp16xx, Wazo base.tpl);
// GXP accounts 2-6 (P401…/P501…/P601…/P1701…/P1801… blocks), DTMF P2301-P2303, vocoders
// P57-P62/P46, P237/P212/P194/P193 (60-86400 minutes: shorter site intervals become 60)/P30
// from Grandstream's "Configuration Template For GXP21xx Firmware 1.0.5.32" as reproduced in
// FusionPBX grandstream/gxp21xx/{$mac}.xml; HT80x values
// (P850 DTMF, P194 = 3 "every P193 minutes", OPUS = 123, no G.722) from the HT80x 1.0.10.6
// template in FusionPBX grandstream/ht801 and ht802.
// HT802 port 2 (P401, P747 server, P735 user, P736 auth, P734 password, P703 name, P732, P830,
// P860, vocoders P757-P762/P814) is from that HT80x template only.
// Unverified: that the GXP21xx 1.0.5.32 numbering holds on current GXP2170 firmware; HT802
// port 2 (Wazo's ATA template, a copy of its GXP one, uses P401-P407 instead: the sources
// disagree; the vendor-template numbers are used); NOTIFY challenge behaviour
// (GXP16xx "Disable SIP NOTIFY Authentication" defaults to No, HT80x to Yes); sync event
// `resync` is from a FusionPBX PR quoting Grandstream support, Wazo sends check-sync.
// Clock: P64 takes a POSIX TZ string with the rule (`EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00`;
// Wazo wazo_grandstream common.py TZ_NAME writes Paris so; the UCM/GXP manuals' "Self-Defined
// Time Zone" documents the syntax: weekday 0 = Sunday, week 5 = last).
import { XML, commonRule, macFile, macFromUserAgent, perModelCommonRule, templatesBeside } from '../shared.js';
import type { ModelInfo, VendorProfile } from '../types.js';

/**
 * `family`: which P-value layout the device template uses. `auto_check`: the P194 value that
 * means "check every P193 minutes" (GXP21xx: 1; HT80x: 3). `vocoder_*`: codecs the model's
 * template lists as vocoder choices.
 */
const models: ModelInfo[] = [
  { id: 'GXP2170', lines: 6, vars: { family: 'gxp', auto_check: 1, vocoder_g722: true, vocoder_opus: false } },
  { id: 'HT801', lines: 1, vars: { family: 'ht', auto_check: 3, vocoder_g722: false, vocoder_opus: true } },
  { id: 'HT802', lines: 2, vars: { family: 'ht', auto_check: 3, vocoder_g722: false, vocoder_opus: true } },
];

const accountFile = macFile('cfg', '.xml', 'cfgmac.xml.liquid', XML, 'secrets');
/** `cfggxp2170.xml`: asked for only when `cfg<mac>.xml` fails. */
const modelFile = (model: ModelInfo): string => `cfg${model.id.toLowerCase()}.xml`;

export const grandstream: VendorProfile = {
  id: 'grandstream',
  name: 'Grandstream',
  macForm: 'lower',
  ouis: ['00:0B:82', 'C0:74:AD', 'EC:74:D7'],
  models,
  format: 'xml',
  files: [accountFile, perModelCommonRule(models, modelFile, 'cfgmodel.xml.liquid', XML), commonRule(/^cfg\.xml$/i, 'cfg.xml.liquid', XML)],
  deviceFile: accountFile.name,
  // cfg<model>.xml and cfg.xml are only asked for when cfg<mac>.xml fails (unknown device).
  bootSequence: (_model, mac) => [accountFile.name(mac)],
  parseUserAgent(ua) {
    // "Grandstream Model HW GXP2170 SW 1.0.11.23 DevId 000b828aa872",
    // "Grandstream Model HW HT801 V1.1A SW 1.0.17.5 DevId c074ad273a10", SIP: "Grandstream GXP2170 1.0.11.23"
    const m = /^Grandstream\s+(?:Model\s+HW\s+)?([A-Z]+\d+[A-Z0-9]*)(?:\s+V\d[\w.]*)?(?:\s+SW)?\s+([\d.]+)?/i.exec(ua);
    if (!m) return /^Grandstream\b/i.test(ua) ? {} : null;
    const mac = macFromUserAgent(/\bDevId\s+([0-9a-f]{12})\b/i.exec(ua)?.[1]);
    return { model: m[1]!.toUpperCase(), firmware: m[2], mac };
  },
  resync: { sync: 'resync', reboot: 'check-sync;reboot=true', challenges: true },
  phoneMacros: [],
  urlHint:
    'Grandstream: set Maintenance > Upgrade and Provisioning > Config Server Path to <ip>:<port>/provision (no scheme) and Config Upgrade Via to HTTP/HTTPS; the phone asks for cfg<mac>.xml itself.',
  templatesDir: templatesBeside(import.meta.url),
};
