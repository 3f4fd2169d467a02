// The `pbx` command line and the process lifecycle: config errors stop the server
// with the key path and line; a kill -9 after an API answer loses nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

test('a broken config.yml stops the server with the key path and line', async () => {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const cases: [string, RegExp][] = [
    ['api:\n  port: [9000\n', /YAML syntax error.*|line \d/s],
    ['api:\n  host: 0.0.0.0\n  port: nine\n', /api\.port \(line 3\): expected integer/],
    ['server:\n  external_ip: 10.0.0.5\n  sip_prot: 5060\n', /server\.sip_prot \(line 3\): unknown key "sip_prot" \(did you mean "sip_port"\?\)/],
  ];
  for (const [text, expected] of cases) {
    writeFileSync(file, text);
    const serve = await runCli(['serve', '--config', file]);
    assert.equal(serve.code, 2, text);
    assert.match(serve.stderr, expected);
    assert.match(serve.stderr, /The server was not started/);
    const check = await runCli(['config', 'check', file]);
    assert.equal(check.code, 2);
    assert.match(check.stderr, expected);
  }
  writeFileSync(file, 'api:\n  port: 9000\n');
  const ok = await runCli(['config', 'check', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /is valid/);
});

test('a command without a config file writes the commented default and says where', async () => {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const r = await runCli(['ext', 'list'], { PBX_CONFIG: file });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`wrote a commented default to ${file}`));
  assert.match(readFileSync(file, 'utf8'), /url_format: "http:\/\/\{\{SERVER_IP\}\}:\{\{PORT\}\}\/provision\/\{mac\}\.cfg"/);
  assert.equal((await runCli(['config', 'check', file])).code, 0);
  assert.ok(existsSync(join(dir, 'data/secret.key')));
});

test('CLI: tokens, extensions, devices, render and url; script output alone on the last line', async () => {
  const dir = tempDir();
  const file = writeConfig(dir, { port: 8123, sipPort: 5060, externalIp: '192.168.1.14' });
  const c = ['--config', file];
  const help = await runCli(['--help']);
  for (const cmd of ['serve', 'config', 'token', 'ext', 'device', 'provision']) assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`));

  const token = await createToken(file);
  assert.match(token, /^pbx_[A-Za-z0-9_-]{43}$/);
  const tokens = await runCli(['token', 'list', '--json', ...c]);
  assert.ok(!tokens.stdout.includes(token), 'token values are never listed');
  assert.equal(JSON.parse(tokens.stdout)[0].name, 'tests');

  const ext = await runCli(['ext', 'add', '1001', '--name', 'Alice', ...c]);
  assert.equal(ext.code, 0, ext.stderr);
  const secret = ext.stdout.trim().split('\n').pop()!;
  assert.match(secret, /^[A-Za-z0-9]{20}$/);
  const weak = await runCli(['ext', 'add', '1002', '--password', 'ext1002', ...c]);
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /password is weak/);

  const dev = await runCli(['device', 'add', '68:79:09:9B:E7:68', '--extension', '1001', '--vendor', 'yealink', '--model', 'T46S', ...c]);
  assert.equal(dev.code, 0, dev.stderr);
  assert.equal(dev.stdout.trim(), 'http://192.168.1.14:8123/provision/6879099be768.cfg');
  const shownOnce = /Provisioning credential \(shown once; its file hands it to the phone\): 6879099be768 \/ ([A-Za-z0-9]{20})/.exec(dev.stderr)?.[1];
  assert.ok(shownOnce, dev.stderr);
  const login = await runCli(['device', 'login', '6879099be768', ...c]);
  assert.equal(login.stdout.trim(), '6879099be768', 'the user name; the password is not shown again');
  assert.ok(!login.stdout.includes(shownOnce) && !login.stderr.includes(shownOnce));
  const renewed = await runCli(['device', 'login', '6879099be768', '--new', ...c]);
  const newPassword = renewed.stdout.trim();
  assert.match(newPassword, /^[A-Za-z0-9]{20}$/);
  assert.notEqual(newPassword, shownOnce);
  assert.match(renewed.stderr, /first-fetch window open until/, 'a new password reopens the window');
  const url = await runCli(['provision', 'url', '6879.099b.e768', ...c]);
  assert.equal(url.stdout.trim(), 'http://192.168.1.14:8123/provision/6879099be768.cfg');
  const render = await runCli(['provision', 'render', '6879099be768', ...c]);
  assert.equal(render.code, 0, render.stderr);
  assert.match(render.stdout, new RegExp(`^account\\.1\\.password = ${secret}$`, 'm'));
  const common = await runCli(['provision', 'render', '6879099be768', '--file', 'y000000000066.cfg', ...c]);
  assert.ok(!common.stdout.includes(secret));
  const list = await runCli(['device', 'list', '--json', ...c]);
  assert.equal(JSON.parse(list.stdout)[0].config_url, 'http://192.168.1.14:8123/provision/6879099be768.cfg');
  const rmExt = await runCli(['ext', 'rm', '1001', ...c]);
  assert.equal(rmExt.code, 1);
  assert.match(rmExt.stderr, /assigned to device/);
  const bad = await runCli(['device', 'show', 'not-a-mac', ...c]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /is not a MAC address/);
  assert.ok(!bad.stderr.includes('    at '), 'no stack trace for expected errors');
});

test('kill -9 right after the API answers loses nothing it reported as done', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  let server = await RunningServer.start(file, port);
  servers.push(server);
  const ext = await server.api('POST', '/api/extensions', token, { number: '3001' });
  assert.equal(ext.status, 201);
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: '001565aa0001', extension_number: '3001', vendor: 'yealink', model: 'T54W' });
  assert.equal(dev.status, 201);
  const upd = await server.api('PUT', '/api/extensions/3001', token, { name: 'Renamed' });
  assert.equal(upd.status, 200);
  await server.kill9();

  server = await RunningServer.start(file, port);
  servers.push(server);
  const got = await server.api('GET', '/api/extensions/3001', token);
  assert.equal(got.status, 200);
  assert.equal(got.json.name, 'Renamed');
  const d = await server.api('GET', '/api/provisioning/devices/001565aa0001', token);
  assert.equal(d.status, 200);
  const f = await server.fetchFile('001565aa0001.cfg', 'Yealink SIP-T54W 96.86.0.70 00:15:65:aa:00:01');
  assert.match(f.body, new RegExp(`account\\.1\\.password = ${ext.json.password}`), 'the secret survived, readable');
});

test('the database file alone does not reveal SIP secrets', async () => {
  const dir = tempDir();
  const file = writeConfig(dir, { port: 8124, sipPort: 5060 });
  const ext = await runCli(['ext', 'add', '1001', '--config', file]);
  const secret = ext.stdout.trim().split('\n').pop()!;
  const db = readFileSync(join(dir, 'data/pbx.db'));
  const wal = existsSync(join(dir, 'data/pbx.db-wal')) ? readFileSync(join(dir, 'data/pbx.db-wal')) : Buffer.alloc(0);
  assert.ok(!db.includes(secret) && !wal.includes(secret), 'secret is sealed at rest');
});

test('pbx ext set changes only what is given: digest algorithms, name, enabled; bad values are refused by name', async () => {
  const dir = tempDir();
  const file = writeConfig(dir, { port: 8125, sipPort: 5060 });
  const c = ['--config', file];
  assert.equal((await runCli(['ext', 'add', '1201', '--name', 'Desk', ...c])).code, 0);
  const set = await runCli(['ext', 'set', '1201', '--digest-algorithms', 'md5', ...c]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /digest algorithms: MD5/);
  let shown = JSON.parse((await runCli(['ext', 'show', '1201', ...c])).stdout);
  assert.deepEqual(shown.digest_algorithms, ['MD5']);
  assert.equal(shown.name, 'Desk', 'the name was left alone');
  assert.equal((await runCli(['ext', 'set', '1201', '--digest-algorithms', 'default', '--disable', ...c])).code, 0);
  shown = JSON.parse((await runCli(['ext', 'show', '1201', ...c])).stdout);
  assert.equal(shown.digest_algorithms, null);
  assert.equal(shown.enabled, false);
  const bad = await runCli(['ext', 'set', '1201', '--digest-algorithms', 'SHA-1', ...c]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /digest_algorithms/);
  assert.ok(!bad.stderr.includes('    at '), 'no stack trace');
  const weak = await runCli(['ext', 'set', '1201', '--password', 'password', ...c]);
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /password is weak.*CLI: --allow-weak-password; API: "allow_weak_password": true/, 'the error names the flag the admin can use');
  assert.equal((await runCli(['ext', 'set', '1201', '--password', 'password', '--allow-weak-password', ...c])).code, 0);
  const missing = await runCli(['ext', 'set', '1999', '--name', 'x', ...c]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /1999/);
});
