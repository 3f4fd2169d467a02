// Two headless baresip instances (Debian's baresip, no sound device: aubridge audio),
// each configured from the SIP account in the file its provisioned phone would fetch,
// register through the server and complete a call. The call state is read from
// baresip's own output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Baresip } from '../helpers/baresip.ts';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const dir = tempDir();
const children: ChildProcessWithoutNullStreams[] = [];
let server: RunningServer | undefined;
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server?.stop();
});


/** Account values read back from a Yealink file, as a phone would use them. */
function accountFrom(file: string) {
  const get = (key: string) => new RegExp(`^account\\.1\\.${key.replace(/\./g, '\\.')} = (.*)$`, 'm').exec(file)?.[1]?.trim();
  return { user: get('user_name')!, authUser: get('auth_name')!, password: get('password')!, server: get('sip_server.1.address')!, port: Number(get('sip_server.1.port')) };
}

function startBaresip(name: string, listenPort: number, account: ReturnType<typeof accountFrom>): Baresip {
  const cfg = join(dir, name);
  mkdirSync(cfg, { recursive: true });
  writeFileSync(
    join(cfg, 'config'),
    [
      'poll_method poll',
      `sip_listen 127.0.0.1:${listenPort}`,
      'sip_trans_def udp',
      `audio_player aubridge,play-${name}`,
      `audio_source aubridge,src-${name}`,
      `audio_alert aubridge,play-${name}`,
      'module_path /usr/lib/baresip/modules',
      'module stdio.so',
      'module g711.so',
      'module aubridge.so',
      'module_app account.so',
      'module_app menu.so',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(cfg, 'accounts'),
    `<sip:${account.user}@${account.server}:${account.port}>;auth_user=${account.authUser};auth_pass=${account.password};regint=300;answermode=auto\n`,
  );
  // Line-buffered, so each event is readable when it happens (stdout is a pipe here).
  const child = spawn('stdbuf', ['-oL', '-eL', 'baresip', '-f', cfg], { cwd: cfg });
  children.push(child);
  return new Baresip(child);
}

test('two baresip phones, configured from their provisioned files, register and call each other', async () => {
  const sipPort = await freeSipPort();
  const port = await freePort();
  const config = writeConfig(dir, { port, sipPort });
  const token = await createToken(config);
  server = await RunningServer.start(config, port);

  const accounts = [];
  for (const [n, mac] of [['4001', '001565b00001'], ['4002', '001565b00002']] as const) {
    // Default digest settings: the baresip in Debian 12 (libre 1.x) computes MD5 only and gives
    // up on any SHA-256 challenge; the server challenges it with MD5 alone, by its User-Agent.
    assert.equal((await server.api('POST', '/api/extensions', token, { number: n, name: `Phone ${n}` })).status, 201);
    assert.equal((await server.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: n, vendor: 'yealink', model: 'T46S' })).status, 201);
    const file = await server.fetchFile(`${mac}.cfg`, `Yealink SIP-T46S 66.86.0.15 ${mac}`);
    assert.equal(file.status, 200);
    const account = accountFrom(file.body);
    assert.equal(account.server, '127.0.0.1');
    assert.equal(account.port, sipPort, 'the file points the phone at this SIP server');
    accounts.push(account);
  }

  // baresip also listens on port+1 for TLS: keep the two far apart.
  const a = startBaresip('a', 26100 + (sipPort % 100), accounts[0]!);
  const b = startBaresip('b', 26300 + (sipPort % 100), accounts[1]!);
  await a.waitFor(/registered successfully/);
  await b.waitFor(/registered successfully/);
  const regs = await server.api('GET', '/api/registrations', token);
  assert.deepEqual(regs.json.registrations.map((r: any) => r.extension).sort(), ['4001', '4002']);

  a.send(`/dial ${accounts[1]!.user}`);
  await a.waitFor(/Call established: sip:4002@/);
  await b.waitFor(/Call established: sip:4001@/);
  const active = await server.api('GET', '/api/calls', token);
  assert.equal(active.json.calls.length, 1);
  assert.equal(active.json.calls[0].state, 'answered');

  a.send('/hangup');
  await a.waitFor(/terminate call '[^']+' with sip:4002@/);
  // The callee learns of the hang-up from the BYE the server relayed.
  await b.waitFor(/sip:4001@\S+: session closed/);
  const cdr = await server.api('GET', '/api/cdr', token);
  assert.equal(cdr.json.cdr[0].result, 'answered');
  assert.equal(cdr.json.cdr[0].hangup_side, 'caller');
  a.send('/quit');
  b.send('/quit');
});
