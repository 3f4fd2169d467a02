// Golden files: for every vendor and model, each file of the boot sequence rendered
// through the real pipeline (SQLite, services, templates) is compared with a reviewed
// copy under test/golden/. Regenerate after an intended change with
//   UPDATE_GOLDEN=1 npm test -- golden
// and review the diff like code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { createPbx } from '../src/app.ts';
import type { Pbx } from '../src/application.ts';
import { parseConfigText } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { formatMac } from '../src/util/mac.ts';
import { macFor } from './helpers/phones.ts';
import { tempDir } from './helpers/server.ts';

const GOLDEN = join(import.meta.dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const SECRET = (n: number) => `GoldenSecret${String(n).padStart(4, '0')}xyz`;
const PROV_SECRET = (n: number) => `ProvSecret${String(n).padStart(4, '0')}abc`;

/** A pbx with the golden site settings, in the given time zone. */
async function goldenPbx(timezone: string): Promise<Pbx> {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const config = parseConfigText(
    `server:\n  name: golden-pbx\n  external_ip: 192.168.1.14\n  sip_port: 5060\napi:\n  port: 8080\nprovisioning:\n  resync_interval_minutes: 720\n  site:\n    timezone: ${timezone}\n    ntp_server: ntp.example.org\n    codecs: [G722, PCMU, PCMA]\n    dtmf_mode: rfc2833\n`,
    file,
  );
  return createPbx({ file, config }, createLogger('silent'));
}

/** The reviewed copy of a rendered file: compared, or written when UPDATE_GOLDEN=1. */
function compareWithGolden(goldenFile: string, body: string): void {
  if (UPDATE || !existsSync(goldenFile)) {
    if (!UPDATE) assert.fail(`missing golden file ${goldenFile}; run UPDATE_GOLDEN=1 npm test -- golden and review it`);
    mkdirSync(dirname(goldenFile), { recursive: true });
    writeFileSync(goldenFile, body);
  }
  assert.equal(body, readFileSync(goldenFile, 'utf8'), `${goldenFile} differs`);
}

let pbx: Pbx;
let noDst: Pbx;
before(async () => {
  // New York keeps daylight saving (second Sunday of March to first Sunday of November);
  // Kolkata keeps +5:30 all year: each vendor's clock keys are checked in both.
  pbx = await goldenPbx('America/New_York');
  noDst = await goldenPbx('Asia/Kolkata');
});
after(() => {
  pbx.close();
  noDst.close();
});

test('every model renders exactly its reviewed golden files', async (t) => {
  let n = 0;
  for (const vendor of pbx.vendors.vendors) {
    for (const model of vendor.models) {
      n++;
      const lines = Math.min(model.lines, 2);
      const numbers: string[] = [];
      for (let i = 0; i < lines; i++) {
        const number = String(1000 + n * 10 + i);
        await pbx.extensions.create({ number, name: `User ${number} & Co <desk>`, password: SECRET(n * 10 + i) });
        numbers.push(number);
      }
      const mac = macFor(vendor, n);
      await pbx.devices.create({ mac_address: mac, lines: numbers, vendor: vendor.id, model: model.id, provisioning_password: PROV_SECRET(n) });
      const vmac = formatMac(mac, vendor.macForm);
      await t.test(`${vendor.id} ${model.id}`, () => {
        for (const name of vendor.bootSequence(model, vmac)) {
          const r = pbx.files.resolve(name);
          assert.equal(r.status, 200, `${name}: ${r.outcome} ${r.detail ?? ''}`);
          const body = r.body!;
          compareWithGolden(join(GOLDEN, vendor.id, model.id, name), body);
          const stripped = vendor.phoneMacros.reduce((b, m) => b.split(m).join(''), body);
          assert.doesNotMatch(stripped, /\{\{|\}\}|\{%|%\}|\{mac\}|\$mac\b|SERVER_IP|\{\{?PORT/i, `${name}: unresolved placeholder`);
          if (vendor.format === 'xml' || body.trimStart().startsWith('<')) {
            const valid = XMLValidator.validate(body);
            assert.equal(valid, true, `${name} is not well-formed XML: ${JSON.stringify(valid)}`);
          }
          const secrets = [...numbers.map((_, i) => SECRET(n * 10 + i)), PROV_SECRET(n)];
          if (name === vendor.deviceFile(vmac)) {
            for (const s of secrets) assert.ok(body.includes(s), `${name} carries every line's secret and the provisioning credential`);
            assert.ok(body.includes('192.168.1.14'), `${name} points at the SIP server`);
            assert.ok(body.includes('192.168.1.14:8080/provision'), `${name} keeps the phone on this provisioning server`);
          } else {
            for (const s of secrets) assert.ok(!body.includes(s), `${name} must carry no secret`);
          }
        }
      });
    }
  }
});

test('a zone without daylight saving: each vendor\'s clock keys say so (golden, one model per vendor)', async (t) => {
  let n = 0;
  for (const vendor of noDst.vendors.vendors) {
    const model = vendor.models[0]!;
    n++;
    const number = String(3000 + n);
    await noDst.extensions.create({ number, name: `Zone ${number}`, password: SECRET(n) });
    const mac = macFor(vendor, 200 + n);
    await noDst.devices.create({ mac_address: mac, lines: [number], vendor: vendor.id, model: model.id, provisioning_password: PROV_SECRET(n) });
    const vmac = formatMac(mac, vendor.macForm);
    await t.test(`${vendor.id} ${model.id} in Asia/Kolkata`, () => {
      const bodies = vendor.bootSequence(model, vmac).map((name) => {
        const r = noDst.files.resolve(name);
        assert.equal(r.status, 200, `${name}: ${r.outcome} ${r.detail ?? ''}`);
        compareWithGolden(join(GOLDEN, 'zones', 'Asia_Kolkata', vendor.id, model.id, name), r.body!);
        return r.body!;
      });
      const all = bodies.join('\n');
      // +5:30 all year, no daylight saving, in each vendor's words.
      const expected: Record<string, RegExp[]> = {
        yealink: [/^local_time\.time_zone = \+5:30$/m, /^local_time\.summer_time = 0$/m],
        zultys: [/^local_time\.time_zone = \+5:30$/m, /^local_time\.summer_time = 0$/m],
        polycom: [/tcpIpApp\.sntp\.gmtOffset="19800"/, /tcpIpApp\.sntp\.daylightSavings\.enable="0"/],
        cisco: [/<Time_Zone>GMT\+05:30<\/Time_Zone>/, /<Daylight_Saving_Time_Enable>no</],
        grandstream: [/<P64>[A-Z]{3}-5:30<\/P64>/],
        snom: [/<utc_offset perm="R">19800</, /<dst perm="R"><\/dst>/],
        fanvil: [/<EnableDST>0<\/EnableDST>/],
      };
      for (const re of expected[vendor.id] ?? assert.fail(`no clock expectation for ${vendor.id}`)) assert.match(all, re);
    });
  }
});

test('a zone with daylight saving: New York\'s rule (2nd Sunday of March 02:00 to 1st Sunday of November 02:00) in each vendor\'s words', () => {
  const expected: Record<string, RegExp[]> = {
    yealink: [/^local_time\.time_zone = -5$/m, /^local_time\.summer_time = 1$/m, /^local_time\.dst_time_type = 1$/m, /^local_time\.start_time = 3\/2\/7\/2$/m, /^local_time\.end_time = 11\/1\/7\/2$/m, /^local_time\.offset_time = 60$/m],
    polycom: [/gmtOffset="-18000"/, /daylightSavings\.enable="1"/, /daylightSavings\.start\.month="3"/, /daylightSavings\.start\.date="8"/, /daylightSavings\.start\.dayOfWeek="1"/, /daylightSavings\.stop\.month="11"/, /daylightSavings\.stop\.date="1"/, /daylightSavings\.stop\.time="2"/],
    cisco: [/<Time_Zone>GMT-05:00</, /<Daylight_Saving_Time_Rule>start=3\/8\/7\/2:0:0;end=11\/1\/7\/2:0:0;save=1:0:0</],
    grandstream: [/<P64>EST5EDT4,M3\.2\.0\/02:00:00,M11\.1\.0\/02:00:00<\/P64>/],
    snom: [/<utc_offset perm="R">-18000</, /<dst perm="R">3600 03\.02\.07 02:00:00 11\.01\.07 02:00:00</],
    fanvil: [/<EnableDST>2</, /<DSTStartMon>3</, /<DSTStartWeek>2</, /<DSTStartWday>0</, /<DSTEndMon>11</, /<DSTEndWeek>1</],
  };
  for (const [vendorId, patterns] of Object.entries(expected)) {
    const vendor = pbx.vendors.get(vendorId)!;
    const all = readdirSync(join(GOLDEN, vendorId, vendor.models[0]!.id)).map((f) => readFileSync(join(GOLDEN, vendorId, vendor.models[0]!.id, f), 'utf8')).join('\n');
    for (const re of patterns) assert.match(all, re, `${vendorId}: ${re}`);
  }
});

test('Yealink firmware generations: each gets the provisioning keys it reads (golden)', async () => {
  // Versions as the phones announce them: T28P/T28G line 2.70 (vendor-user-agents.md), a real
  // ZIP 33G 47.80.132.4 (Yealink firmware 80), a T46S on 66.86.
  const cases = [
    { vendor: 'yealink', model: 'T28G', version: '2.70.0.140', generation: 70 },
    { vendor: 'zultys', model: 'ZIP33G', version: '47.80.132.4', generation: 80 },
    { vendor: 'yealink', model: 'T46S', version: '66.86.0.15', generation: 86 },
  ];
  for (const [i, c] of cases.entries()) {
    const vendor = pbx.vendors.get(c.vendor)!;
    const number = String(5000 + i);
    await pbx.extensions.create({ number, name: `Generation ${c.generation}`, password: SECRET(500 + i) });
    const mac = macFor(vendor, 500 + i);
    await pbx.devices.create({ mac_address: mac, lines: [number], vendor: c.vendor, model: c.model, provisioning_password: PROV_SECRET(500 + i) });
    const m = pbx.files.match(vendor.deviceFile(formatMac(mac, vendor.macForm)));
    assert.equal(m.outcome, 'matched');
    if (m.outcome !== 'matched') continue;
    const r = pbx.files.render(m, c.version);
    assert.equal(r.outcome, 'delivered');
    if (r.outcome !== 'delivered') continue;
    compareWithGolden(join(GOLDEN, 'generations', `${c.vendor}-${c.model}-v${c.generation}.cfg`), r.body);
    const plain = /^auto_provision\.server\.password = ProvSecret/m.test(r.body);
    const prefixed = /^static\.auto_provision\.server\.password = ProvSecret/m.test(r.body);
    assert.deepEqual({ plain, prefixed }, c.generation >= 81 ? { plain: false, prefixed: true } : { plain: true, prefixed: false }, `${c.model} v${c.generation}`);
  }
});

test("voicemail: every vendor's device file names the voicemail number (*97) and turns on message waiting for each line", () => {
  const expected: Record<string, RegExp[]> = {
    yealink: [/^voice_mail\.number\.1 = \*97$/m, /^account\.1\.subscribe_mwi = 1$/m, /^account\.2\.subscribe_mwi = 1$/m],
    zultys: [/^voice_mail\.number\.1 = \*97$/m, /^account\.1\.subscribe_mwi = 1$/m],
    polycom: [/msg\.mwi\.1\.subscribe="\d+" msg\.mwi\.1\.callBackMode="contact" msg\.mwi\.1\.callBack="\*97"/],
    cisco: [/<Voice_Mail_Number>\*97<\/Voice_Mail_Number>/, /<Mailbox_ID_1_>\d+<\/Mailbox_ID_1_>/],
    grandstream: [/<P99>1<\/P99>/],
    snom: [/<user_mailbox idx="1" perm="R">\*97<\/user_mailbox>/],
    fanvil: [/<MWINum>\*97<\/MWINum>/],
  };
  for (const vendor of pbx.vendors.vendors) {
    for (const model of vendor.models) {
      const folder = join(GOLDEN, vendor.id, model.id);
      const device = readdirSync(folder).map((f) => readFileSync(join(folder, f), 'utf8')).join('\n');
      for (const re of expected[vendor.id] ?? assert.fail(`no voicemail expectation for ${vendor.id}`)) assert.match(device, re, `${vendor.id} ${model.id}: ${re}`);
    }
  }
  // The desk phones also get the voicemail number (the adapters' key for it is not known).
  assert.match(readFileSync(join(GOLDEN, 'grandstream', 'GXP2170', readdirSync(join(GOLDEN, 'grandstream', 'GXP2170')).find((f) => /^cfg[0-9a-f]{12}\.xml$/.test(f))!), 'utf8'), /<P33>\*97<\/P33>/);
});
