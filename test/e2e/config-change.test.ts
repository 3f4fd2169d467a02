// A config change reaches every phone without anyone touching a phone: the server runs
// on port A with simulated phones of several vendors registered over UDP; config.yml is
// edited to port B while they are registered; every phone gets its vendor's NOTIFY,
// re-fetches (through A's grace listener first, then from B) and shows "in sync".
// A phone that is not registered (no NOTIFY possible) is still served on A, logged, and
// ends on B. An invalid edit is refused and the server keeps running.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { SimPhone } from '../helpers/sim-phone.ts';

const dir = tempDir();
let server: RunningServer | undefined;
const phones: SimPhone[] = [];
after(async () => {
  for (const p of phones) p.close();
  await server?.stop();
});

const FLEET: [string, string, string, string][] = [
  ['yealink', 'T46S', '001565c00001', 'check-sync;reboot=false'],
  ['polycom', 'VVX450', '0004f2c00002', 'check-sync'],
  ['cisco', 'SPA504G', '0002fdc00003', 'resync'],
  ['grandstream', 'GXP2170', '000b82c00004', 'resync'],
  ['snom', 'D785', '000413c00005', 'check-sync;reboot=false'],
  ['fanvil', 'X4U', '0c383ec00006', 'check-sync'],
];

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('moving api.port brings every phone over by itself', async () => {
  const portA = await freePort();
  const portB = await freePort();
  const sipPort = await freeSipPort();
  const file = writeConfig(dir, { port: portA, sipPort });
  const token = await createToken(file);
  server = await RunningServer.start(file, portA);
  const s = server;

  for (const [i, [vendor, model, mac]] of FLEET.entries()) {
    const number = String(6001 + i);
    // Several of these vendors' phones read only the first digest challenge: MD5 for all.
    assert.equal((await s.api('POST', '/api/extensions', token, { number, digest_algorithms: ['MD5'] })).status, 201);
    assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: number, vendor, model })).status, 201);
    const phone = new SimPhone(vendor, model, mac, `http://127.0.0.1:${portA}/provision`);
    phones.push(phone);
    await phone.provision();
    assert.equal(phone.baseUrl, `http://127.0.0.1:${portA}/provision`, `${vendor} reads port A from its file`);
    await phone.register();
  }
  // One more phone that never registers: it only fetches on its own schedule.
  assert.equal((await s.api('POST', '/api/extensions', token, { number: '6099' })).status, 201);
  assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565c00099', extension_number: '6099', vendor: 'yealink', model: 'T54W' })).status, 201);
  const silent = new SimPhone('yealink', 'T54W', '001565c00099', `http://127.0.0.1:${portA}/provision`);
  await silent.provision();

  const states = async (base: string) => {
    const r = await fetch(`${base}/api/provisioning/devices`, { headers: { authorization: `Bearer ${token}` } });
    return Object.fromEntries(((await r.json()) as any).devices.map((d: any) => [d.mac_address, d.sync_state]));
  };
  const before = await states(`http://127.0.0.1:${portA}`);
  assert.ok(Object.values(before).every((st) => st === 'in sync'), JSON.stringify(before));

  // Edit config.yml by hand: api.port A → B.
  writeFileSync(file, readFileSync(file, 'utf8').replace(`port: ${portA}`, `port: ${portB}`));
  await s.waitForLog(new RegExp(`API port: ${portB} \\(moved from ${portA}`), 10_000);

  // Every registered phone gets its vendor's NOTIFY, and ends up fetching from B.
  for (const [i, phone] of phones.entries()) {
    const [vendor, , , event] = FLEET[i]!;
    await until(`${vendor} NOTIFY`, () => phone.notifies.length > 0);
    assert.equal(phone.notifies[0]!.headers.get('event')![0], event, `${vendor} event`);
    await until(`${vendor} to fetch from port B`, () => phone.fetches.some((f) => f.url.includes(`:${portB}/`) && f.status === 200));
    assert.equal(phone.baseUrl, `http://127.0.0.1:${portB}/provision`);
  }
  const cisco = phones[2]!;
  assert.ok(cisco.notifies.every((n) => n.headers.get('authorization')), 'the Cisco phone obeyed only the authenticated NOTIFY');
  await until('every registered phone in sync', async () => {
    const st = await states(`http://127.0.0.1:${portB}`);
    return FLEET.every(([, , mac]) => st[mac] === 'in sync');
  });

  // The silent phone still knows only A: it is served there (logged), learns B, and ends on B.
  const st1 = await states(`http://127.0.0.1:${portB}`);
  assert.equal(st1['001565c00099'], 'stale', 'its file changed and nobody could tell it');
  await silent.provision();
  assert.ok(silent.fetches.at(-1)!.url.includes(`:${portA}/`), 'served on A during the grace period');
  assert.equal(silent.baseUrl, `http://127.0.0.1:${portB}/provision`, 'and told the new URL');
  await s.waitForLog(/Device 001565c00099 fetched 001565c00099\.cfg through old port \d+; its file now points it at http:\/\/127\.0\.0\.1:\d+\/provision\/001565c00099\.cfg/);
  assert.equal((await states(`http://127.0.0.1:${portB}`))['001565c00099'], 'fetched via old port');
  await silent.provision();
  assert.ok(silent.fetches.at(-1)!.url.includes(`:${portB}/`));
  assert.equal((await states(`http://127.0.0.1:${portB}`))['001565c00099'], 'in sync');

  // The old port serves phones only, never the API: a bookmark of the admin is sent on to
  // the new address, an API call is told where the API is, anything else is 404.
  const bookmark = await fetch(`http://127.0.0.1:${portA}/admin/phones`, { redirect: 'manual' });
  assert.equal(bookmark.status, 308);
  assert.equal(bookmark.headers.get('location'), `http://127.0.0.1:${portB}/admin/phones`);
  assert.match(await bookmark.text(), new RegExp(`The admin is at http://127\\.0\\.0\\.1:${portB}/admin/`));
  const script = await fetch(`http://127.0.0.1:${portA}/api/status`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
  assert.equal(script.status, 404, 'an API call is not redirected (its token would go along)');
  assert.deepEqual(await script.json(), { error: 'moved', message: `This port only serves phones now; the API is at http://127.0.0.1:${portB}/api/`, api: `http://127.0.0.1:${portB}/api/` });
  assert.equal((await fetch(`http://127.0.0.1:${portA}/metrics`, { redirect: 'manual' })).status, 404);
  const spoofed = await fetch(`http://127.0.0.1:${portA}/admin/`, { redirect: 'manual', headers: { host: 'evil.example' } });
  assert.equal(spoofed.headers.get('location'), `http://127.0.0.1:${portB}/admin/`, 'the Host header does not choose where to go');

  // Registrations survived the move.
  const regs = await fetch(`http://127.0.0.1:${portB}/api/registrations`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(((await regs.json()) as any).registrations.length, FLEET.length);
});

test('an invalid edit of config.yml is refused and the server keeps running on the old config', async () => {
  const s = server!;
  const file = s.configFile;
  const good = readFileSync(file, 'utf8');
  const port = Number(/port: (\d+)\napi|api:\n  host: 127\.0\.0\.1\n  port: (\d+)/.exec(good)?.[2]);
  writeFileSync(file, good.replace(`  port: ${port}`, '  port: "not a port"'));
  await s.waitForLog(/Configuration change refused \(file changed\); keeping the running configuration\. Invalid configuration in .*api\.port \(line \d+\): expected integer/s, 10_000);
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(res.status, 200, 'still serving on the running port');
  // Putting the good file back is news too: the last line must not stay "refused".
  writeFileSync(file, good);
  await s.waitForLog(/Configuration valid again \(file changed\): the same as the running one, nothing changes/, 10_000);
  // A SIGHUP with nothing changed says so instead of staying silent.
  s.child.kill('SIGHUP');
  await s.waitForLog(/Configuration unchanged \(SIGHUP\)/, 10_000);
});

test('PUT /api/config keeps the file\'s comments, moving server.sip_port keeps registrations and calls', async () => {
  const { TestUa } = await import('../helpers/sip-client.ts');
  const dir2 = tempDir();
  const port = await freePort();
  const sipA = await freeSipPort();
  const sipB = await freeSipPort();
  const file = writeConfig(dir2, { port, sipPort: sipA });
  writeFileSync(file, `# site config, maintained by hand\n${readFileSync(file, 'utf8')}`);
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  try {
    const pw = { '6101': 'tY6-uI7-oP8-aS9', '6102': 'dF1-gH2-jK3-lZ4' } as Record<string, string>;
    for (const [n, p] of Object.entries(pw)) assert.equal((await s.api('POST', '/api/extensions', token, { number: n, password: p })).status, 201);
    const callee = await new TestUa({ host: '127.0.0.1', port: sipA }, '6102', pw['6102']!).open();
    const caller = await new TestUa({ host: '127.0.0.1', port: sipA }, '6101', pw['6101']!).open();
    try {
      assert.equal((await callee.register()).reply.status, 200);
      callee.onRequest = (req) => ({ status: 200, reason: 'OK', extra: req.method === 'INVITE' ? [`Contact: <sip:6102@127.0.0.1:${callee.port}>`] : [] });
      const base = { uri: 'sip:6102@127.0.0.1', to: '<sip:6102@127.0.0.1>', from: '<sip:6101@127.0.0.1>;tag=mv1', callId: 'move-1' };
      const chal = await caller.request('INVITE', base);
      const ok = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${caller.authorize('INVITE', base.uri, chal, 'proxy-authenticate')}`] });
      assert.equal(ok.status, 200);

      const bad = await s.api('PUT', '/api/config', token, { values: { 'server.sip_port': 'five thousand' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.field, 'server.sip_port');
      const moved = await s.api('PUT', '/api/config', token, { values: { 'server.sip_port': sipB, 'provisioning.site.ntp_server': 'ntp.lab.example' } });
      assert.equal(moved.status, 200, moved.text);
      assert.deepEqual(moved.json.changed.sort(), ['provisioning.site.ntp_server', 'server.sip_port']);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^# site config, maintained by hand$/m, 'comments kept');
      assert.match(text, new RegExp(`sip_port: ${sipB}`));
      await s.waitForLog(new RegExp(`SIP listening on UDP 127\\.0\\.0\\.1:${sipB}|Configuration reloaded`));

      // The call set up on the old port ends normally through it.
      const g = (n: string) => ok.headers.get(n)![0]!;
      const bye = await caller.request('BYE', { uri: `sip:6102@127.0.0.1:${callee.port}`, from: g('from'), to: g('to'), callId: g('call-id'), cseq: 5, headers: (ok.headers.get('record-route') ?? []).map((r) => `Route: ${r}`) });
      assert.equal(bye.status, 200);
      // Registrations are still there, and the new port answers.
      const regs = await s.api('GET', '/api/registrations', token);
      assert.equal(regs.json.registrations.length, 1);
      const onB = await new TestUa({ host: '127.0.0.1', port: sipB }, '6101', pw['6101']!).open();
      assert.equal((await onB.register()).reply.status, 200);
      onB.close();
      const status = await s.api('GET', '/api/status', token);
      assert.equal(status.json.sip_port, sipB);
      const settings = await s.api('PUT', '/api/provisioning/settings', token, { timezone: 'Europe/Paris', codecs: ['PCMA', 'PCMU'] });
      assert.equal(settings.status, 200, settings.text);
      assert.equal(settings.json.settings.timezone, 'Europe/Paris');
      assert.match(readFileSync(file, 'utf8'), /timezone: Europe\/Paris/);
      const badTz = await s.api('PUT', '/api/provisioning/settings', token, { timezone: 'Mars/Base' });
      assert.equal(badTz.status, 400);
      assert.equal(badTz.json.field, 'provisioning.site.timezone');
    } finally {
      callee.close();
      caller.close();
    }
  } finally {
    await s.stop();
  }
});

test('moving provisioning.http_port keeps the old plain-HTTP port serving phones (also after a restart)', async () => {
  const dir3 = tempDir();
  const port = await freePort();
  const plainA = await freePort();
  const plainB = await freePort();
  const file = writeConfig(dir3, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', `provisioning:\n  http_port: ${plainA}\n`));
  const token = await createToken(file);
  let s = await RunningServer.start(file, port);
  try {
    assert.equal((await s.api('POST', '/api/extensions', token, { number: '6201' })).status, 201);
    const dev = await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565c00201', extension_number: '6201', vendor: 'yealink', model: 'T46S' });
    assert.equal(dev.json.config_url, `http://127.0.0.1:${plainA}/provision/001565c00201.cfg`);
    const phone = new SimPhone('yealink', 'T46S', '001565c00201', `http://127.0.0.1:${plainA}/provision`);
    await phone.provision();

    const moved = await s.api('PUT', '/api/config', token, { values: { 'provisioning.http_port': plainB } });
    assert.equal(moved.status, 200, moved.text);
    await s.waitForLog(new RegExp(`Old provisioning port ${plainA} keeps serving phones until`));
    const shown = await s.api('GET', '/api/provisioning/devices/001565c00201', token);
    assert.equal(shown.json.config_url, `http://127.0.0.1:${plainB}/provision/001565c00201.cfg`);

    // The phone still knows A: it is served there, logged as an old-port fetch, and told B.
    await phone.provision();
    assert.ok(phone.fetches.at(-1)!.url.includes(`:${plainA}/`));
    assert.equal(phone.baseUrl, `http://127.0.0.1:${plainB}/provision`);
    await s.waitForLog(new RegExp(`Device 001565c00201 fetched 001565c00201\\.cfg through old port ${plainA}`));
    const api = await fetch(`http://127.0.0.1:${plainA}/api/status`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
    assert.equal(api.status, 404, 'never the API');
    assert.match(((await api.json()) as { message: string }).message, /the API is at http:\/\/127\.0\.0\.1:\d+\/api\//);

    // After a restart the old port is reopened, still plain HTTP.
    await s.stop();
    s = await RunningServer.start(file, port);
    await s.waitForLog(new RegExp(`Provisioning also served on old port ${plainA}`));
    const again = await fetch(`http://127.0.0.1:${plainA}/provision/y000000000000.boot`);
    assert.equal(again.status, 200);
  } finally {
    await s.stop();
  }
});

test('a port change the server cannot bind is refused: 400 at the key, config.yml unchanged, nothing moves', async () => {
  const { createServer } = await import('node:net');
  const dir4 = tempDir();
  const port = await freePort();
  const file = writeConfig(dir4, { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  const squatter = createServer();
  const busy = await new Promise<number>((ok) => squatter.listen(0, '127.0.0.1', () => ok((squatter.address() as { port: number }).port)));
  try {
    const before = readFileSync(file, 'utf8');
    const r = await s.api('PUT', '/api/config', token, { values: { 'api.port': busy } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.field, 'api.port');
    assert.match(r.json.message, new RegExp(`API port ${busy} on 127\\.0\\.0\\.1 is already in use by another process`));
    assert.equal(readFileSync(file, 'utf8'), before, 'config.yml was put back');
    assert.equal((await s.api('GET', '/api/status', token)).status, 200, 'still serving on the old port');
    const shown = await s.api('GET', '/api/config', token);
    assert.equal(shown.json.config.api.port, port, 'the running config did not change');
    await s.waitForLog(/Configuration change refused \(PUT \/api\/config\)/);
  } finally {
    squatter.close();
    await s.stop();
  }
});

test('a change made by another process (the CLI, a second node) reaches the registered phone', async () => {
  const { createPbx } = await import('../../src/app.ts');
  const { loadConfigFile } = await import('../../src/config/load.ts');
  const { createLogger } = await import('../../src/log.ts');
  const dir5 = tempDir();
  const port = await freePort();
  const file = writeConfig(dir5, { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  const phone = new SimPhone('yealink', 'T46S', '001565c00301', `http://127.0.0.1:${port}/provision`);
  try {
    assert.equal((await s.api('POST', '/api/extensions', token, { number: '6301', name: 'Front desk', digest_algorithms: ['MD5'] })).status, 201);
    assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565c00301', extension_number: '6301', vendor: 'yealink', model: 'T46S' })).status, 201);
    await phone.provision();
    await phone.register();

    // An open event stream (the web admin's) is told too.
    const stream = await fetch(`http://127.0.0.1:${port}/api/events`, { headers: { authorization: `Bearer ${token}` } });
    const reader = stream.body!.getReader();
    let received = '';
    const announced = (async () => {
      while (!/"topics":\[[^\]]*"extensions"/.test(received)) {
        const { value, done } = await reader.read();
        if (done) break;
        received += new TextDecoder().decode(value);
      }
    })();

    // Another process on the same database renames the extension: the phone's file changes.
    const other = await createPbx(loadConfigFile(file), createLogger('silent'));
    await other.extensions.update('6301', { name: 'Back office' });
    await other.close();
    await Promise.race([announced, new Promise((r) => setTimeout(r, 10_000))]);
    await reader.cancel();
    assert.match(received, /"topics":\[[^\]]*"extensions"/, 'the event stream announced the other process\'s change');

    await until('the NOTIFY after the other process changed the extension', () => phone.notifies.length > 0);
    await until('the phone to fetch the new file', async () => (await s.api('GET', '/api/provisioning/devices/001565c00301', token)).json.sync_state === 'in sync' && phone.fetches.length > 3);
    await s.waitForLog(/Files of 1 device\(s\) changed \(changed by another process\)/);
  } finally {
    phone.close();
    await s.stop();
  }
});
