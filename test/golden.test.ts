// Golden files: for every vendor and model, each file of the boot sequence rendered
// through the real pipeline (SQLite, services, templates) is compared with a reviewed
// copy under test/golden/. Regenerate after an intended change with
//   UPDATE_GOLDEN=1 npm test -- golden
// and review the diff like code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

let pbx: Pbx;
before(async () => {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const config = parseConfigText(
    `server:\n  name: golden-pbx\n  external_ip: 192.168.1.14\n  sip_port: 5060\napi:\n  port: 8080\nprovisioning:\n  resync_interval_minutes: 720\n  site:\n    timezone: America/New_York\n    ntp_server: ntp.example.org\n    codecs: [G722, PCMU, PCMA]\n    dtmf_mode: rfc2833\n`,
    file,
  );
  pbx = await createPbx({ file, config }, createLogger('silent'));
});
after(() => pbx.close());

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
          const goldenFile = join(GOLDEN, vendor.id, model.id, name);
          if (UPDATE || !existsSync(goldenFile)) {
            if (!UPDATE) assert.fail(`missing golden file ${goldenFile}; run UPDATE_GOLDEN=1 npm test -- golden and review it`);
            mkdirSync(dirname(goldenFile), { recursive: true });
            writeFileSync(goldenFile, body);
          }
          assert.equal(body, readFileSync(goldenFile, 'utf8'), `${goldenFile} differs`);
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
