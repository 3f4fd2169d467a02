// A simulated Cisco SPA walks its profile rules as the firmware does (Profile_Rule, then
// _B, _C, _D in one resync, with what each fetched file set): on its first boot it must
// get its SIP account and provisioning credential in that same resync, and after the
// first-fetch window has closed its next resync must still get 200 with digest.
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

for (const model of ['SPA504G', 'SPA112']) {
  test(`Cisco ${model}: account and credential in the first resync; 200 with digest after the window`, async () => {
    const port = await freePort();
    const file = writeConfig(tempDir(), { port, sipPort: await freeSipPort() });
    const token = await createToken(file);
    server = await RunningServer.start(file, port);
    const mac = model === 'SPA504G' ? '0002fdd00001' : '0002fdd00002';
    assert.equal((await server.api('POST', '/api/extensions', token, { number: '6501', digest_algorithms: ['MD5'] })).status, 201);
    assert.equal((await server.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: '6501', vendor: 'cisco', model })).status, 201);
    const phone = new SimPhone('cisco', model, mac, `http://127.0.0.1:${port}/provision`);
    phones.push(phone);
    await phone.provision();
    assert.equal(phone.account?.user, '6501', 'the SIP account came in the first resync');
    assert.ok(phone.credential?.password, 'and the provisioning credential');
    assert.deepEqual(phone.fetches.map((f) => f.url.replace(/.*\//, '')), [model === 'SPA504G' ? 'spa504G.cfg' : 'spa112.cfg', `${mac}.xml`]);
    await phone.register();

    // The window closes: the next resync must authenticate, and does.
    assert.equal((await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 0 } })).status, 200);
    const before = phone.fetches.length;
    await phone.provision();
    assert.ok(phone.fetches.slice(before).every((f) => f.status === 200), JSON.stringify(phone.fetches.slice(before)));
    assert.deepEqual(phone.fetches.slice(before).map((f) => f.url.replace(/.*\//, '')), [`${mac}.xml`], 'straight to its own file, with its credential');
    const shown = await server.api('GET', `/api/provisioning/devices/${mac}`, token);
    assert.ok(shown.json.last_authenticated_at, 'the fetch was authenticated');
    phone.close();
    phones.pop();
    await server.stop();
    server = undefined;
  });
}
