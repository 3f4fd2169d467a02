// User-Agent tables: real strings phones send, run through the registry's `identify`, so
// each row also proves that the right vendor wins (vendors are tried in order) and not
// only that its own parser matches. Sources, unless a row says otherwise:
// ../shared/reference/vendor-user-agents.md (captures quoted in wazo-platform/
// wazo-provd-plugins' device-detection code) and vendor-boot-and-resync.md. "Wazo comment"
// marks a string from the "HTTP User-Agent:" comment block of that vendor's Wazo plugin that
// the reference leaves out; "synthetic" marks a shape no capture confirms (profile comments,
// other projects' tests). A phone's SIP User-Agent differs from its HTTP one where a vendor
// section says so; both forms are listed where a source gives them.
//
// Adding a vendor: add its section here with every real string you can find, and a
// near-miss for any other vendor whose strings look like it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';

/** [User-Agent, model identify must report, MAC (12 lowercase hex) or null when the UA has none]. */
type Row = [ua: string, model: string | undefined, mac: string | null];

const registry = new VendorRegistry();

function table(vendor: string, rows: Row[]): void {
  describe(vendor, () => {
    for (const [ua, model, mac] of rows) {
      it(ua, () => {
        const found = registry.identify(ua);
        assert.ok(found, 'no vendor recognised it');
        assert.equal(found.vendor.id, vendor);
        assert.equal(found.model, model);
        assert.equal(found.mac ?? null, mac);
        // No other vendor's parser claims it either: the answer does not hang on the order.
        assert.deepEqual(registry.vendors.filter((v) => v.parseUserAgent(ua)).map((v) => v.id), [vendor]);
      });
    }
  });
}

table('yealink', [
  // HTTP: `Yealink SIP-<model> <firmware> <MAC with colons>`.
  ['Yealink SIP-T19P_E2 53.80.0.3 00:15:65:4c:4c:26', 'T19P_E2', '0015654c4c26'],
  ['Yealink SIP-T21P_E2 52.80.0.3 00:15:65:4c:4c:26', 'T21P_E2', '0015654c4c26'],
  ['Yealink SIP-T23G 44.80.0.60 00:15:65:93:70:f2', 'T23G', '0015659370f2'],
  ['Yealink SIP-T27P 45.80.0.25 00:15:65:8c:48:12', 'T27P', '0015658c4812'],
  ['Yealink SIP-T40P 54.80.0.10 00:15:65:94:86:64', 'T40P', '001565948664'],
  ['Yealink SIP-T41P 36.72.0.1 00:15:65:53:83:22', 'T41P', '001565538322'],
  ['Yealink SIP-T41P 36.83.0.120 00:15:65:53:83:22', 'T41P', '001565538322'],
  ['Yealink SIP-T42G 29.72.0.1 00:15:65:4c:3b:b0', 'T42G', '0015654c3bb0'],
  ['Yealink SIP-T42G 29.83.0.120 00:15:65:4c:3b:b0', 'T42G', '0015654c3bb0'],
  ['Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37', 'T46G', '0015654aa937'],
  ['Yealink SIP-T46G 28.83.0.120 00:15:65:4a:a9:37', 'T46G', '0015654aa937'],
  ['Yealink SIP-T48G 35.72.0.6 00:15:65:5c:60:82', 'T48G', '0015655c6082'],
  ['Yealink SIP-T48G 35.83.0.120 00:15:65:5c:60:82', 'T48G', '0015655c6082'],
  ['Yealink SIP-T49G 51.80.0.10 00:15:65:9b:5a:44', 'T49G', '0015659b5a44'],
  ['Yealink SIP VP-T49G 51.80.0.10 00:15:65:9b:5a:44', 'T49G', '0015659b5a44'],
  ['Yealink SIP-T58A 58.83.0.15 00:15:65:9b:5b:22', 'T58A', '0015659b5b22'],
  ['Yealink SIP-T31G 124.85.257.55 80:5e:c0:d5:7d:72', 'T31G', '805ec0d57d72'],
  ['Yealink SIP-T33G 124.85.257.55 80:5e:c0:bd:ea:ef', 'T33G', '805ec0bdeaef'],
  ['Yealink SIP-T34W 124.86.0.75 24:9a:d8:88:d0:f4', 'T34W', '249ad888d0f4'],
  ['Yealink SIP-T77U 185.87.0.10 44:db:d2:bd:b5:69', 'T77U', '44dbd2bdb569'],
  ['Yealink CP860 37.72.0.5 00:15:65:8a:37:86', 'CP860', '0015658a3786'],
  ['Yealink W60B 77.81.0.35 80:5e:c0:09:ab:dc', 'W60B', '805ec009abdc'],
  // Old firmware: lower-case vendor; and a form without MAC (the last token is not one).
  ['yealink SIP-T28P 2.70.0.140 00:15:65:13:ae:0b', 'T28P', '00156513ae0b'],
  ['Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0', 'T46G', null],
  // Wazo comment: a double space, the DECT base with and without the SIP- prefix, and
  // DECT/video bases that send no vendor name at all.
  ['Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e', 'T38G', '0015652fc35e'],
  ['Yealink SIP-W52P 25.73.0.20 00:15:65:40:ae:35', 'W52P', '00156540ae35'],
  ['Yealink W52P 25.80.0.15 00:15:65:b8:60:05', 'W52P', '001565b86005'],
  ['W52P 25.30.0.2 00:15:65:44:b3:7c', 'W52P', '00156544b37c'],
  ['VP530P 23.70.0.40 00:15:65:31:4b:c0', 'VP530P', '001565314bc0'],
  ['VP530 23.70.0.41 00:15:65:3d:58:e3', 'VP530', '0015653d58e3'],
  // T5x firmware drops the colons (vendor-boot-and-resync.md: "T5x sends …58.80.0.25 001565f429a4").
  ['Yealink SIP-T58A 58.80.0.25 001565f429a4', 'T58A', '001565f429a4'],
  // Synthetic (other projects' unit tests): the shape for the models this server provisions.
  ['Yealink SIP-T46S 66.86.0.15 805ec0123456', 'T46S', '805ec0123456'],
  ['Yealink SIP-T54W 96.86.0.70 80:5e:c0:12:34:56', 'T54W', '805ec0123456'],
  // SIP: the same shape without the MAC (vendor-user-agents.md: "Yealink SIP UA has no MAC").
  ['Yealink SIP-T46S 66.86.0.15', 'T46S', null],
  ['Yealink SIP-T23G 44.80.0.60', 'T23G', null],
]);

table('zultys', [
  // SIP, from a packet capture of a real ZIP 33G (mattiIce/PBX, PCAP Zultys ZIP33G.pcap).
  ['Zultys ZIP 33G - 47.80.132.4', 'ZIP33G', null],
  // HTTP: no capture exists. Synthetic: mattiIce/PBX's tests, and the Yealink-like shape the
  // profile comment names (Yealink firmware).
  ['Zultys ZIP33G 47.80.0.132', 'ZIP33G', null],
  ['Zultys ZIP33G 47.80.0.132 00:0b:ea:12:34:56', 'ZIP33G', '000bea123456'],
]);

table('polycom', [
  // HTTP: `FileTransport Polycom<family>-<model>-UA/<version>`; never a MAC (it is in the path).
  ['FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application', 'VVX400', null],
  ['FileTransport PolycomVVX-VVX_101-UA/5.4.3.1014 Type/Application', 'VVX101', null],
  ['FileTransport PolycomSoundStationIP-SSIP_6000-UA/4.0.4.2906 Type/Application', 'SSIP6000', null],
  ['FileTransport PolycomSoundStationIP-SSIP_6000-UA/5.0.3.1667 Type/Updater', 'SSIP6000', null],
  ['FileTransport PolycomSoundPointIP-SPIP_335-UA/3.2.1.0078', 'SPIP335', null],
  ['FileTransport PolycomSoundPointIP-SPIP_335-UA/4.2.1.0275', 'SPIP335', null],
  ['FileTransport PolycomSoundPointIP-SPIP_450-UA/3.2.3.1734', 'SPIP450', null],
  ['FileTransport PolycomSoundPointIP-SPIP_550-UA/3.2.3.1734', 'SPIP550', null],
  // The reference's expected form for the VVX 450 this server provisions.
  ['FileTransport PolycomVVX-VVX_450-UA/6.3.1.8427 Type/Application', 'VVX450', null],
]);

table('cisco', [
  // SPA: `Cisco/<model>-<firmware> [(<MAC>)](<serial>)`: with two groups the first is the MAC.
  ['Cisco/SPA501G-7.4.4 (8843E157DDCC)(CBT141100HR)', 'SPA501G', '8843e157ddcc'],
  ['Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)', 'SPA508G', '0002fdff2103'],
  ['Cisco/SPA508G-7.4.8a (0002FDFF2103)(CBT141400UK)', 'SPA508G', '0002fdff2103'],
  ['Cisco/SPA525G-7.4.4 (CBT141900G7)', 'SPA525G', null],
  ['Cisco/SPA525G-7.4.7 (CBT141900G7)', 'SPA525G', null],
  // Linksys SPA9xx: a single group is the serial number, even when it looks like hex.
  ['Linksys/SPA-942-6.1.5(a) (88019FA42805)', 'SPA942', null],
  ['Linksys/SPA-962-6.1.5(a) (4MM00F903042)', 'SPA962', null],
  // Synthetic: the profile comment's shape for the SPA504G this server provisions.
  ['Cisco/SPA504G-7.5.5 (0002FDFF2103)(CBT141400UK)', 'SPA504G', '0002fdff2103'],
  // MPP (3PCC firmware): `Cisco-CP-<model>-3PCC/<firmware> (<mac>)` (also in Cisco's MPP guide).
  ['Cisco-CP-7832-3PCC/11.0.1 (00562b043615)', 'CP-7832-3PCC', '00562b043615'],
]);

table('grandstream', [
  // HTTP: `Grandstream Model HW <model>[ <hw rev>] SW <firmware> DevId <mac>`.
  ['Grandstream Model HW GXP1405 SW 1.0.4.23 DevId 000b8240d55c', 'GXP1405', '000b8240d55c'],
  ['Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859', 'GXP1628', 'c074ad2bd859'],
  ['Grandstream Model HW GXP2200 V2.2A SW 1.0.1.33 DevId 000b82462d97', 'GXP2200', '000b82462d97'],
  ['Grandstream Model HW GXV3240 V1.6B SW 1.0.1.27 DevId 000b82632815', 'GXV3240', '000b82632815'],
  ['Grandstream Model HW GXV3350  V1.3A SW 1.0.1.8 DevId c074ad150b88', 'GXV3350', 'c074ad150b88'],
  ['Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee', 'GRP2614', 'c074ad0b63ee'],
  ['Grandstream Model HW HT801 V1.1A SW 1.0.17.5 DevId c074ad273a10', 'HT801', 'c074ad273a10'],
  ['Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872', 'GXP2135', '000b828aa872'],
  ['Grandstream GXP2000 (gxp2000e.bin:1.2.5.3/boot55e.bin:1.1.6.9) DevId 000b822726c8', 'GXP2000', '000b822726c8'],
  // Synthetic: the profile comment's shape for the GXP2170 this server provisions.
  ['Grandstream Model HW GXP2170 SW 1.0.11.23 DevId 000b828aa872', 'GXP2170', '000b828aa872'],
  // SIP: a shorter shape without the MAC (other projects' test data).
  ['Grandstream GXP2170 1.0.11.23', 'GXP2170', null],
]);

table('snom', [
  // HTTP: `Mozilla/4.0 (compatible; snom<model>-SIP <firmware> … [<MAC>] …)`; newer firmware adds the MAC.
  ['Mozilla/4.0 (compatible; snom320-SIP 6.5.20; snom320 jffs2 v3.36; snom320 linux 3.38)', '320', null],
  ['Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)', '320', null],
  ['Mozilla/4.0 (compatible; snom710-SIP 8.7.3.19 1.1.5-IFX-05.01.12)', '710', null],
  ['Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)', '710', '000413741767'],
  ['Mozilla/4.0 (compatible; snom760-SIP 8.7.3.19 2010.06)', '760', null],
  ['Mozilla/4.0 (compatible; snom820-SIP 8.4.35 1.1.4-IFX-26.11.09)', '820', null],
  ['Mozilla/4.0 (compatible; snom870-SIP 8.4.35 SPEAr300 SNOM 1.4)', '870', null],
  ['Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)', 'D785', '000413922d24'],
  // Wazo comment: "--> Snom 6.5.xx", no model; and the PA1 paging amplifier.
  ['Mozilla/4.0 (compatible; snom lid 3605)', undefined, null],
  ['Mozilla/4.0 (compatible; snomPA1-SIP 8.4.35 1.1.3-s)', 'PA1', null],
  ['Mozilla/4.0 (compatible; snom320-SIP 7.3.30 1.1.3-u)', '320', null],
]);

table('fanvil', [
  // HTTP: `Fanvil <model, may hold a space> <firmware> <mac>`.
  ['Fanvil X4 2.10.2.6887 0c383e07e16c', 'X4', '0c383e07e16c'],
  ['Fanvil X6U Pro 0.0.10 0c383e2cd782', 'X6U-PRO', '0c383e2cd782'],
  ['Fanvil X5U-V2 2.12.16.17 0c383e557eb1', 'X5U-V2', '0c383e557eb1'],
  ['Fanvil V67 2.6.6.187 0c383e2b29e6', 'V67', '0c383e2b29e6'],
  ['Fanvil V65 2.12.2.4 0c383e38e123', 'V65', '0c383e38e123'],
  ['Fanvil H2U-V2 2.12.0 0c383e32342e', 'H2U-V2', '0c383e32342e'],
  ['Fanvil W620W 2.16.10 0c383e7dd216', 'W620W', '0c383e7dd216'],
  ['Fanvil i10SV 2.12.10.1 0c383e2397f4', 'I10SV', '0c383e2397f4'],
  ['Fanvil i53W 2.12.9 0c383e10a440', 'I53W', '0c383e10a440'],
  // Wazo comment; and the profile comment's shape for the X4U this server provisions.
  ['Fanvil X7-V2 2.12.16.17 0c383e32c10f', 'X7-V2', '0c383e32c10f'],
  ['Fanvil X4U 2.12.16.17 0c383e557eb1', 'X4U', '0c383e557eb1'],
]);

describe('strings that are no vendor of ours', () => {
  const none = [
    // Browsers and HTTP tools.
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
    'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)',
    'curl/8.5.0',
    'Wget/1.21.4',
    'python-requests/2.31.0',
    'Go-http-client/1.1',
    '',
    // SIP softphones, servers and scanners.
    'baresip v3.10.1 (x86_64/Linux)',
    'Linphone/3.6.1 (eXosip2/4.1.0)',
    'LinphoneAndroid/5.2.0 (Pixel 7) LinphoneSDK/5.3.0',
    'MicroSIP/3.21.3',
    'Zoiper rv2.10.19.6',
    'Asterisk PBX 20.5.0',
    'FreeSWITCH-mod_sofia/1.10.10-release~64bit',
    'friendly-scanner',
    'sipvicious',
    // Other vendors' phones, shaped like ours (vendor-boot-and-resync.md): Htek writes
    // Yealink's shape, AudioCodes and Panasonic a MAC in parentheses like Cisco.
    'Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9',
    'AUDC-IPPhone/2.2.8.61 (440HDG-Rev0; 00908F602AAC)',
    'Panasonic_KX-UT670/01.022 (0080f000000)',
    'Aastra6731i MAC:00-08-5D-29-4C-6B V:3.3.1.4365-SIP',
    // A Yealink-firmware phone's web server header (the Zultys capture), not a phone fetching.
    'yealink embed httpd',
    // Vendor words in the wrong place.
    'Mozilla/5.0 (compatible; YealinkBot/1.0)',
    'my-Fanvil X4 2.10.2.6887 0c383e07e16c',
  ];
  for (const ua of none) {
    it(JSON.stringify(ua), () => {
      assert.equal(registry.identify(ua), undefined);
    });
  }
});
