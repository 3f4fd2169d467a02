// One simulated phone per vendor (and per Yealink firmware generation) boots against a real
// server as its firmware does: the files in the vendor's order, each read with the keys that
// firmware reads (a Yealink before firmware 81 knows no `static.` keys; a fresh Snom follows
// its model file's <setting-files> and expands {mac} only in setting_server; a Polycom reads
// its master file's CONFIG_FILES). Each must end with a registered SIP account and a stored
// provisioning credential, and after the first-fetch window has closed its next resync must
// get 200 with digest.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { SimPhone } from '../helpers/sim-phone.ts';

let server: RunningServer | undefined;
const phones: SimPhone[] = [];
after(async () => {
  for (const p of phones) p.close();
  await server?.stop();
});

const FLEET: { vendor: string; model: string; mac: string; why: string }[] = [
  { vendor: 'yealink', model: 'T28G', mac: '001565e00001', why: 'firmware 70: unprefixed auto_provision keys' },
  { vendor: 'yealink', model: 'T46S', mac: '001565e00002', why: 'firmware 86: static.auto_provision keys' },
  { vendor: 'zultys', model: 'ZIP33G', mac: '000beae00003', why: 'Yealink firmware 80 under a Zultys name' },
  { vendor: 'polycom', model: 'VVX450', mac: '0004f2e00004', why: 'master file, then CONFIG_FILES' },
  { vendor: 'grandstream', model: 'GXP2170', mac: '000b82e00005', why: 'cfg<mac>.xml' },
  { vendor: 'grandstream', model: 'HT801', mac: '000b82e00006', why: 'an adapter' },
  { vendor: 'snom', model: 'D785', mac: '000413e00007', why: 'fresh phone pointed at snomD785.htm' },
  { vendor: 'fanvil', model: 'X4U', mac: '0c383ee00008', why: 'common file, then <mac>.cfg' },
  { vendor: 'cisco', model: 'SPA504G', mac: '0002fde00009', why: 'Profile_Rule chain' },
];

test('every vendor: account and credential from the first boot, registered; 200 with digest after the window', async (t) => {
  const port = await freePort();
  const file = writeConfig(tempDir(), { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  server = await RunningServer.start(file, port);
  for (const [i, p] of FLEET.entries()) {
    const number = String(6600 + i);
    assert.equal((await server.api('POST', '/api/extensions', token, { number, digest_algorithms: ['MD5'] })).status, 201);
    const created = await server.api('POST', '/api/provisioning/devices', token, { mac_address: p.mac, extension_number: number, vendor: p.vendor, model: p.model });
    assert.equal(created.status, 201, JSON.stringify(created.json));
  }

  for (const [i, p] of FLEET.entries()) {
    await t.test(`${p.vendor} ${p.model} (${p.why}): first boot`, async () => {
      const phone = new SimPhone(p.vendor, p.model, p.mac, `http://127.0.0.1:${port}/provision`);
      phones.push(phone);
      await phone.boot();
      assert.equal(phone.account?.user, String(6600 + i), 'the SIP account came in the first boot');
      assert.ok(phone.credential?.password, `the provisioning credential was stored (fetches: ${JSON.stringify(phone.fetches)})`);
      await phone.register();
    });
  }

  assert.equal((await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 0 } })).status, 200);
  for (const [i, p] of FLEET.entries()) {
    await t.test(`${p.vendor} ${p.model}: after the window, the next resync authenticates`, async () => {
      const phone = phones[i]!;
      const before = phone.fetches.length;
      await phone.provision();
      const later = phone.fetches.slice(before);
      assert.ok(later.length > 0 && later.every((f) => f.status === 200 || f.optional), JSON.stringify(later));
      const shown = await server!.api('GET', `/api/provisioning/devices/${p.mac}`, token);
      assert.ok(shown.json.last_authenticated_at, `${p.mac}: the fetch was authenticated with its credential`);
    });
  }
});
