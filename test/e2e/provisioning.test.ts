// The real server process over real HTTP: create extensions and phones through the
// API, fetch each vendor's boot sequence with its real User-Agent, then move the
// server to another port and address and check nothing was stranded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';
import { formatMac } from '../../src/util/mac.ts';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { macFor, userAgentFor } from '../helpers/phones.ts';

const registry = new VendorRegistry();
const dir = tempDir();
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

interface Phone {
  mac: string;
  vendor: string;
  model: string;
  extension: string;
  password: string;
}

test('phones of every vendor and model provision over HTTP, and survive a port and address change', async (t) => {
  const portA = await freePort();
  const sipPort = await freeSipPort();
  let config = writeConfig(dir, { port: portA, sipPort, externalIp: '127.0.0.1' });
  const token = await createToken(config);
  let server = await RunningServer.start(config, portA);
  servers.push(server);

  const phones: Phone[] = [];
  let n = 1;
  for (const vendor of registry.vendors) {
    for (const model of vendor.models) {
      const extension = String(2000 + n);
      const ext = await server.api('POST', '/api/extensions', token, { number: extension, name: `${vendor.name} ${model.id} & Co <desk>` });
      assert.equal(ext.status, 201, ext.text);
      assert.match(ext.json.password, /^[A-Za-z0-9]{20}$/, 'a strong password is generated and shown once');
      const mac = macFor(vendor, n++);
      // MACs in every accepted form go in; the API answers with the normalised form.
      const forms = [formatMac(mac, 'colon'), formatMac(mac, 'colon-upper').replace(/:/g, '-'), `${mac.slice(0, 4)}.${mac.slice(4, 8)}.${mac.slice(8)}`, mac];
      const dev = await server.api('POST', '/api/provisioning/devices', token, {
        mac_address: forms[n % forms.length],
        extension_number: extension,
        vendor: vendor.id,
        model: model.id,
      });
      assert.equal(dev.status, 201, dev.text);
      assert.equal(dev.json.mac_address, mac);
      assert.equal(dev.json.config_url, `http://127.0.0.1:${portA}/provision/${formatMac(mac, vendor.macForm)}.cfg`);
      phones.push({ mac, vendor: vendor.id, model: model.id, extension, password: ext.json.password });
    }
  }

  await t.test('each phone fetches its boot sequence with its real User-Agent and gets its account', async () => {
    for (const p of phones) {
      const vendor = registry.get(p.vendor)!;
      const model = registry.model(p.vendor, p.model)!;
      const vmac = formatMac(p.mac, vendor.macForm);
      const ua = userAgentFor(p.vendor, p.model, p.mac);
      for (const file of vendor.bootSequence(model, vmac)) {
        const r = await server.fetchFile(file, ua);
        assert.equal(r.status, 200, `${p.vendor} ${p.model} ${file}: ${r.body}`);
        assert.doesNotMatch(withoutMacros(r.body, vendor.phoneMacros), UNRESOLVED, `${file} has an unresolved placeholder`);
        if (file !== vendor.deviceFile(vmac)) assert.ok(!r.body.includes(p.password), `${file} must not carry the SIP password`);
      }
      const account = await server.fetchFile(vendor.deviceFile(vmac), ua);
      assert.equal(account.status, 200);
      assert.ok(account.body.includes(p.password), `${p.vendor} ${p.model}: password in account file`);
      assert.ok(account.body.includes(p.extension), `${p.vendor} ${p.model}: extension in account file`);
      assert.ok(account.body.includes('127.0.0.1'), `${p.vendor} ${p.model}: SIP server in account file`);
      assert.ok(account.body.includes(`:${portA}/provision`), `${p.vendor} ${p.model}: keeps pointing at the provisioning server`);
      // The generic URL of url_format serves the same account file for every vendor.
      const generic = await server.fetchFile(`${p.mac}.cfg`, ua);
      assert.equal(generic.status, 200);
      if (p.vendor !== 'polycom') assert.equal(generic.body, account.body, `${p.vendor}: /provision/<mac>.cfg serves the account file`);
      // A file name with a character escaped (%xx) is the same file once decoded.
      const name = vendor.deviceFile(vmac);
      const cut = name.lastIndexOf('/') + 1;
      const escaped = await server.fetchFile(`${name.slice(0, cut)}%${name.charCodeAt(cut).toString(16).toUpperCase()}${name.slice(cut + 1)}`, ua);
      assert.equal(escaped.status, 200, `${p.vendor}: ${name} with its first character escaped`);
      assert.equal(escaped.body, account.body);
    }
    await server.waitForLog(new RegExp(`✓ Provisioning config delivered to ${phones.at(-1)!.mac}`));
    const first = phones[0]!;
    assert.ok(server.log.includes(`✓ Provisioning config delivered to ${first.mac} (Yealink ${first.model}, extension ${first.extension})`));
    assert.ok(server.log.includes(`Provisioning request received for MAC: ${first.mac}`));
  });

  await t.test('the request log recognises each vendor from its User-Agent', async () => {
    const log = await server.api('GET', '/api/provisioning/requests?limit=1000', token);
    assert.equal(log.status, 200);
    for (const p of phones) {
      const rows = log.json.requests.filter((r: any) => r.mac === p.mac && r.outcome === 'delivered');
      assert.ok(rows.length > 0, `${p.mac} logged`);
      assert.ok(rows.every((r: any) => r.vendor === p.vendor), `${p.vendor} ${p.model} identified`);
    }
    const devs = await server.api('GET', '/api/provisioning/devices', token);
    assert.ok(devs.json.devices.every((d: any) => d.last_provisioned && d.last_ip === '127.0.0.1'));
  });

  const strangerMac = 'c0ffee000001';
  await t.test('unknown, malformed and placeholder requests get plain 404/400 and clear log lines', async () => {
    const unknown = await server.fetchFile(`${strangerMac}.cfg`, 'Yealink SIP-T46S 66.86.0.15 c0:ff:ee:00:00:01');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body, 'Not Found\n', 'no JSON to phones');
    await server.waitForLog(new RegExp(`Device ${strangerMac} not registered in provisioning system`));

    for (const bad of ['6879099be76.cfg', '68:79:09:9b:e7.cfg', '68-79-09-9b-e7-6g.cfg']) {
      const r = await server.fetchFile(bad, 'Yealink SIP-T46S 66.86.0.15');
      assert.equal(r.status, 400, bad);
    }
    for (const placeholder of ['{mac}.cfg', '$mac.cfg', '{MAC}.xml', '$MA.xml', '%7Bmac%7D.cfg']) {
      const r = await server.fetchFile(placeholder, 'Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:99');
      assert.equal(r.status, 400, placeholder);
    }
    await server.waitForLog(/literal MAC placeholder\. Fix: Yealink: set Auto Provision/);
    assert.equal((await server.fetchFile('nonsense.txt', 'curl')).status, 404);
  });

  // Stop; leave a stale URL in the row as the old system stored it; restart elsewhere.
  await server.stop();
  const db = new Database(join(dir, 'data/pbx.db'));
  db.prepare('UPDATE devices SET last_served_url = ?').run(`http://192.168.1.14:${portA}/provision/stale.cfg`);
  db.close();

  let portB = 9000;
  if ((await freePort().then(() => true)) && !(await isFree(9000))) portB = await freePort();
  config = writeConfig(dir, { port: portB, sipPort, externalIp: '10.0.0.5' });
  server = await RunningServer.start(config, portB);
  servers.push(server);

  await t.test('after the restart every device shows a URL derived from the new config', async () => {
    assert.match(server.log, new RegExp(`API port: ${portB}`));
    const devs = await server.api('GET', '/api/provisioning/devices', token);
    assert.equal(devs.status, 200);
    assert.equal(devs.json.devices.length, phones.length, 'nothing re-registered, nothing lost');
    for (const d of devs.json.devices) {
      const vendor = registry.get(d.vendor)!;
      assert.equal(d.config_url, `http://10.0.0.5:${portB}/provision/${formatMac(d.mac_address, vendor.macForm)}.cfg`);
    }
    const one = await server.api('GET', `/api/provisioning/devices/${formatMac(phones[0]!.mac, 'colon')}`, token);
    assert.equal(one.json.config_url, `http://10.0.0.5:${portB}/provision/${phones[0]!.mac}.cfg`);
    await server.waitForLog(new RegExp(`"config_url":"http://10.0.0.5:${portB}/provision/${phones[0]!.mac}.cfg"`)); // logged at debug
  });

  await t.test('the phones still provision, now pointed at the new address and port', async () => {
    // Every phone fetched before the restart: its files were made again in the background
    // (provisioning.prepare_files), and what it gets now is that prepared file.
    await server.waitForLog(new RegExp(`Phone files prepared for ${phones.length} phone\\(s\\) in [\\d.]+ s`), 15_000);
    for (const p of phones) {
      const vendor = registry.get(p.vendor)!;
      const vmac = formatMac(p.mac, vendor.macForm);
      const r = await server.fetchFile(vendor.deviceFile(vmac), userAgentFor(p.vendor, p.model, p.mac));
      assert.equal(r.status, 200);
      assert.ok(r.body.includes(p.password));
      assert.ok(r.body.includes('10.0.0.5'), `${p.vendor} ${p.model} SIP server moved`);
      assert.ok(r.body.includes(`:${portB}/provision`), `${p.vendor} ${p.model} provisioning server moved`);
      assert.ok(!r.body.includes(`:${portA}/`), `${p.vendor} ${p.model} no trace of the old port`);
    }
  });

  await t.test('no secret reached a log line (server log, security log)', async () => {
    const { readFileSync } = await import('node:fs');
    const logs = servers.map((x) => x.log).join('\n') + readFileSync(join(dir, 'data/security.log'), 'utf8');
    assert.ok(logs.length > 1000);
    for (const p of phones) assert.ok(!logs.includes(p.password), `password of ${p.extension} is in a log`);
    assert.ok(!logs.includes(token), 'the API token is in a log');
  });

  await t.test('the request log entry of the unknown MAC survived the restart', async () => {
    const r = await server.api('GET', `/api/provisioning/requests?mac=${strangerMac}`, token);
    assert.equal(r.status, 200);
    assert.equal(r.json.requests[0].outcome, 'unknown_device');
    assert.equal(r.json.requests[0].status, 404);
    assert.equal(r.json.requests[0].vendor, 'yealink', 'vendor guessed from the User-Agent');
  });
});

// Template syntax or one of this server's URL placeholders left in a file.
const UNRESOLVED = /\{\{|\}\}|\{%|%\}|\{mac\}|\$mac\b|\{\{?SERVER_IP|\{\{?PORT/i;

function withoutMacros(body: string, macros: string[]): string {
  return macros.reduce((b, m) => b.split(m).join(''), body);
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}
