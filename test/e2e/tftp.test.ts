// Phones over TFTP against the real pbx process, fetched with a real client (curl's
// tftp://): common files are served; a device's own file only within its first-fetch
// window (TFTP carries no credential); unknown MACs get "file not found" and count as
// misses, so a MAC-walking address is banned for TFTP and HTTP alike; the port follows
// config.yml live.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getFrom } from '../helpers/http-digest.ts';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { tftpGet } from '../helpers/tftp-client.ts';

let server: RunningServer | undefined;
after(async () => {
  await server?.stop();
});

/** curl tftp://…: its exit code (68 = TFTP file not found, 69 = TFTP access violation), body and message. */
function curl(port: number, path: string, extra: string[] = []): Promise<{ code: number; body: string; stderr: string }> {
  return new Promise((ok) => {
    execFile('curl', ['-sS', '--max-time', '10', ...extra, `tftp://127.0.0.1:${port}${path}`], { encoding: 'latin1' }, (err, stdout, stderr) => {
      ok({ code: err ? ((err as { code?: number }).code ?? -1) : 0, body: stdout, stderr });
    });
  });
}

test('phones fetch over TFTP through the provisioning pipeline; per-device files only within the first-fetch window', async () => {
  const dir = tempDir();
  const port = await freePort();
  const tftpPort = await freeSipPort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', `provisioning:\n  tftp_port: ${tftpPort}\n`));
  const token = await createToken(file);
  server = await RunningServer.start(file, port);
  const s = server;
  assert.match(s.log, new RegExp(`TFTP listening on UDP 127\\.0\\.0\\.1:${tftpPort}`));
  assert.equal((await s.api('POST', '/api/extensions', token, { number: '8101' })).status, 201);
  const fresh = await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565aa0001', extension_number: '8101', vendor: 'yealink', model: 'T46S' });
  assert.equal(fresh.status, 201);

  // A common file: the same bytes as over HTTP; with a slash and a folder in the path too.
  const http = await s.fetchFile('y000000000000.boot', 'curl');
  assert.equal(http.status, 200);
  for (const path of ['/y000000000000.boot', '/provision/y000000000000.boot']) {
    const r = await curl(tftpPort, path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body, http.body);
  }
  // netascii (curl -B): line ends become CR LF.
  const ascii = await curl(tftpPort, '/y000000000000.boot', ['-B']);
  assert.equal(ascii.code, 0, ascii.stderr);
  assert.equal(ascii.body, http.body.replace(/\n/g, '\r\n'));

  // A device just added, from a local network: its own file, SIP password and all.
  const own = await curl(tftpPort, '/001565aa0001.cfg', ['--tftp-blksize', '1024']);
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.body, /account\.1\.user_name = 8101/);
  assert.match(own.body, /static\.auto_provision\.server\.username = 001565aa0001/);
  await s.waitForLog(/✓ Provisioning config delivered to 001565aa0001 \(Yealink T46S, extension 8101\) without a credential \(first-fetch window\)/);
  assert.ok(s.lines().some((l) => l.msg === 'Provisioning request received for MAC: 001565aa0001' && l['file'] === '001565aa0001.cfg'));

  // An unknown MAC: file not found, and the usual log line.
  const unknown = await curl(tftpPort, '/provision/001565bb0001.cfg');
  assert.equal(unknown.code, 68, `file not found: ${unknown.stderr}`);
  await s.waitForLog(/Device 001565bb0001 not registered in provisioning system/);
  // A malformed MAC is a bad request: ERROR 0 with a message.
  const bad = await tftpGet({ port: tftpPort, file: '{mac}.cfg' });
  assert.equal(bad.error?.code, 0);
  assert.match(bad.error!.message, /Bad request/);

  // After its first-fetch window (here: closed for all by setting it to 0 live), TFTP,
  // which cannot carry the credential, gets an access violation; HTTP would challenge.
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_minutes: 0\n'));
  await s.waitForLog(/Configuration reloaded \(file changed\): provisioning\.auth\.first_fetch_minutes/, 10_000);
  const refused = await curl(tftpPort, '/001565aa0001.cfg');
  assert.equal(refused.code, 69, `access violation: ${refused.stderr}`);
  const viaClient = await tftpGet({ port: tftpPort, file: '001565aa0001.cfg' });
  assert.equal(viaClient.error?.code, 2);
  assert.match(viaClient.error!.message, /provisioning credential, which TFTP cannot carry; fetch it over HTTP\(S\)/);
  await s.waitForLog(/Device 001565aa0001 asked for 001565aa0001\.cfg without its provisioning credential: challenge sent/);
  assert.equal((await s.fetchFile('001565aa0001.cfg', 'curl')).status, 401);
  const reloads = (await s.settledLog()).split('Configuration reloaded').length;
  writeFileSync(file, text);
  await s.waitForLog({ test: (log: string) => log.split('Configuration reloaded').length > reloads } as RegExp, 10_000);

  // Every TFTP request is in the request log, method TFTP.
  await new Promise((r) => setTimeout(r, 400)); // written behind
  const log = await s.api('GET', '/api/provisioning/requests?limit=100', token);
  const tftpRows = (log.json.requests as { method: string; status: number; outcome: string; path: string }[]).filter((r) => r.method === 'TFTP');
  assert.ok(tftpRows.some((r) => r.status === 200 && r.path === 'provision/y000000000000.boot'), 'the path as sent (curl drops the leading slash)');
  assert.ok(tftpRows.some((r) => r.status === 401 && r.outcome === 'auth_required'));
  assert.ok(tftpRows.some((r) => r.status === 404 && r.outcome === 'unknown_device'));
});

test('a MAC-walking address is banned (TFTP and HTTP); banned requests cost no work; others keep fetching', async () => {
  const s = server!;
  const tftpPort = Number(/tftp_port: (\d+)/.exec(readFileSync(s.configFile, 'utf8'))![1]);
  const received = () => s.lines().filter((l) => String(l.msg).startsWith('Provisioning request received')).length;
  const codes: number[] = [];
  let before = 0;
  for (let i = 0; i < 30; i++) {
    // Log lines reach us through a pipe, after the answers: let those of the misses land first.
    if (i === 20) {
      await new Promise((r) => setTimeout(r, 300));
      before = received();
    }
    const mac = `001565${(0xc00000 + i * 7919).toString(16).padStart(6, '0')}`;
    const r = await tftpGet({ port: tftpPort, file: `${mac}.cfg`, localAddress: '127.0.0.2' });
    codes.push(r.error?.code ?? -1);
  }
  const firstBan = codes.indexOf(2);
  assert.equal(firstBan, 11, `10 misses allowed, the 11th bans: ${codes.join(',')}`);
  assert.ok(codes.slice(0, firstBan).every((c) => c === 1), 'file not found before the ban');
  assert.ok(codes.slice(firstBan).every((c) => c === 2), 'access violation after');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(received(), before, 'banned requests never reach the pipeline (no log line, no request log row)');
  const sec = readFileSync(join(s.configFile, '../data/security.log'), 'utf8');
  assert.match(sec, /pbx-security event=ban ip=127\.0\.0\.2 service=provisioning reason=unknown-macs count=11 window=60s duration=3600s/);
  // The same ban covers HTTP; another address is untouched.
  assert.equal((await getFrom({ port: s.port, path: '/provision/y000000000000.boot', localAddress: '127.0.0.2' })).status, 403);
  assert.equal((await curl(tftpPort, '/y000000000000.boot')).code, 0);
});

test('provisioning.tftp_port is applied live: the listener moves, and 0 turns it off', async () => {
  const s = server!;
  const text = readFileSync(s.configFile, 'utf8');
  const oldPort = Number(/tftp_port: (\d+)/.exec(text)![1]);
  const newPort = await freeSipPort();
  writeFileSync(s.configFile, text.replace(`tftp_port: ${oldPort}`, `tftp_port: ${newPort}`));
  await s.waitForLog(new RegExp(`TFTP listening on UDP 127\\.0\\.0\\.1:${newPort}`), 10_000);
  assert.equal((await curl(newPort, '/y000000000000.boot')).code, 0);
  const gone = await tftpGet({ port: oldPort, file: 'y000000000000.boot', idleMs: 300 });
  assert.ok(gone.timedOut || gone.error, 'nothing serves the old port');
  writeFileSync(s.configFile, text.replace(`tftp_port: ${oldPort}`, 'tftp_port: 0'));
  await s.waitForLog(new RegExp(`TFTP stopped listening on UDP 127\\.0\\.0\\.1:${newPort}`), 10_000);
});

test('a TFTP port held by another program stops the start with a clear message', async () => {
  const { createSocket } = await import('node:dgram');
  const holder = createSocket('udp4');
  await new Promise<void>((ok) => holder.bind(0, '127.0.0.1', () => ok()));
  const taken = holder.address().port;
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', `provisioning:\n  tftp_port: ${taken}\n`));
  await assert.rejects(RunningServer.start(file, port), (err: Error) => {
    assert.match(err.message, /server exited \(1\)/);
    assert.match(err.message, new RegExp(`TFTP port ${taken} on 127\\.0\\.0\\.1 is already in use by another process; change provisioning\\.tftp_port`));
    return true;
  });
  holder.close();
});
