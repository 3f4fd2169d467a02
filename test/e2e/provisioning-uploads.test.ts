// A Polycom phone uploads (PUT) the settings its user changed on the phone (<mac>-phone.cfg)
// and reads them back at its next boot; the server's own account file has another name
// (<mac>-user.cfg), so the two never overwrite each other. Uploads need the device's
// credential (or its first-fetch window), are size-limited, stored whole, listed in the API.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { fetchWithDigest } from '../helpers/http-digest.ts';
import { userAgentFor } from '../helpers/phones.ts';

let server: RunningServer | undefined;
after(async () => server?.stop());

const MAC = '0004f2a0b0c1';
const UA = { 'user-agent': userAgentFor('polycom', 'VVX450', MAC), 'content-type': 'text/plain' };
const USER_SETTINGS = '<?xml version="1.0" encoding="UTF-8"?>\n<PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1" lcl.ml.lang="Deutsch_Deutschland"/></PHONE_CONFIG>\n';

test('Polycom uploads round trip: PUT accepted, stored, served back to the phone, listed; refused without credential, too large, or for a name the server makes', async () => {
  const port = await freePort();
  const dir = tempDir();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  server = await RunningServer.start(file, port);
  const base = `http://127.0.0.1:${port}/provision`;
  assert.equal((await server.api('PUT', '/api/config', token, { values: { 'provisioning.upload_max_bytes': 4096 } })).status, 200);
  assert.equal((await server.api('POST', '/api/extensions', token, { number: '6801' })).status, 201);
  const created = await server.api('POST', '/api/provisioning/devices', token, { mac_address: MAC, extension_number: '6801', vendor: 'polycom', model: 'VVX450' });
  assert.equal(created.status, 201);
  const credential = { user: created.json.provisioning_username as string, password: created.json.provisioning_password as string };

  // First boot: the master names <mac>-user.cfg; the phone's own override file does not exist yet.
  const master = await (await fetch(`${base}/${MAC}.cfg`, { headers: UA })).text();
  assert.match(master, new RegExp(`CONFIG_FILES="${MAC}-user\\.cfg"`));
  const account = await fetch(`${base}/${MAC}-user.cfg`, { headers: UA });
  assert.equal(account.status, 200, 'the account file, inside the first-fetch window');
  assert.match(await account.text(), /reg\.1\.auth\.userId="6801"/);
  assert.equal((await fetchWithDigest(`${base}/${MAC}-phone.cfg`, credential, UA)).status, 404, 'nothing uploaded yet');

  // The window closes: from now on only the credential opens the device's files, both ways.
  assert.equal((await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 0 } })).status, 200);
  const anonymous = await fetch(`${base}/${MAC}-phone.cfg`, { method: 'PUT', headers: UA, body: USER_SETTINGS });
  assert.equal(anonymous.status, 401, 'an upload without the credential is challenged');
  const put = await fetchWithDigest(`${base}/${MAC}-phone.cfg`, credential, UA, 'MD5', { method: 'PUT', body: USER_SETTINGS });
  assert.equal(put.status, 204, `PUT with digest: ${put.status}`);
  const log = 'boot: ok\n'.repeat(20);
  assert.equal((await fetchWithDigest(`${base}/${MAC}-app.log`, credential, UA, 'MD5', { method: 'PUT', body: log })).status, 204);

  // Served back at the next boot, byte for byte; the account file is untouched.
  const back = await fetchWithDigest(`${base}/${MAC}-phone.cfg`, credential, UA);
  assert.equal(back.status, 200);
  assert.equal(await back.text(), USER_SETTINGS);
  assert.equal((await fetch(`${base}/${MAC}-phone.cfg`, { headers: UA })).status, 401, 'served back only to the credential');
  assert.match(await (await fetchWithDigest(`${base}/${MAC}-user.cfg`, credential, UA)).text(), /reg\.1\.auth\.userId="6801"/);

  // Refusals change nothing.
  const big = await fetchWithDigest(`${base}/${MAC}-phone.cfg`, credential, UA, 'MD5', { method: 'PUT', body: 'x'.repeat(5000) });
  assert.equal(big.status, 413, 'over provisioning.upload_max_bytes');
  assert.equal((await fetchWithDigest(`${base}/${MAC}-user.cfg`, credential, UA, 'MD5', { method: 'PUT', body: '<evil/>' })).status, 405, 'the server makes that file');
  assert.equal((await fetch(`${base}/0004f2ffffff-phone.cfg`, { method: 'PUT', headers: UA, body: USER_SETTINGS })).status, 404, 'unknown device');
  assert.equal(await (await fetchWithDigest(`${base}/${MAC}-phone.cfg`, credential, UA)).text(), USER_SETTINGS, 'still the good upload');

  // The admin sees them.
  const list = await server.api('GET', `/api/provisioning/devices/${MAC}/uploads`, token);
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.json.uploads.map((u: { name: string; bytes: number }) => [u.name, u.bytes]),
    [
      [`${MAC}-app.log`, log.length],
      [`${MAC}-phone.cfg`, USER_SETTINGS.length],
    ],
  );
  const one = await fetch(`http://127.0.0.1:${port}/api/provisioning/devices/${MAC}/uploads/${MAC}-phone.cfg`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(await one.text(), USER_SETTINGS);
  await server.waitForLog(new RegExp(`Device ${MAC} uploaded ${MAC}-phone\\.cfg \\(${USER_SETTINGS.length} bytes\\)`));
  await server.waitForLog(/upload of \S+ refused: 5000 bytes, the limit is 4096/);

  // Removing the device removes its files.
  assert.equal((await server.api('DELETE', `/api/provisioning/devices/${MAC}`, token)).status, 204);
  assert.equal((await server.api('POST', '/api/provisioning/devices', token, { mac_address: MAC, extension_number: '6801', vendor: 'polycom', model: 'VVX450' })).status, 201);
  assert.deepEqual((await server.api('GET', `/api/provisioning/devices/${MAC}/uploads`, token)).json.uploads, []);
});
