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

  // The old port serves phones only, never the API.
  assert.equal((await fetch(`http://127.0.0.1:${portA}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status, 404);

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
  writeFileSync(file, good);
});
