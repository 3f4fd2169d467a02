// Two baresip phones over TLS on both legs: the call is answered, the ACK reaches the
// callee, the BYE ends the call on both phones, and the CDR is written. Every address
// the server advertises on a TLS leg (Record-Route, Via) names its TLS listener, not
// the UDP/TCP port (a TLS phone that follows a Record-Route to the UDP/TCP port loses
// its ACK and BYE).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Baresip } from '../helpers/baresip.ts';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const dir = tempDir();
const children: ChildProcessWithoutNullStreams[] = [];
let server: RunningServer | undefined;
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server?.stop();
});


function startBaresip(name: string, listenPort: number, user: string, password: string, tlsPort: number, ca: string): Baresip {
  const cfg = join(dir, name);
  mkdirSync(cfg, { recursive: true });
  writeFileSync(
    join(cfg, 'config'),
    [
      'poll_method poll',
      `sip_listen 127.0.0.1:${listenPort}`,
      'sip_trans_def tls',
      `sip_cafile ${ca}`,
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
  writeFileSync(join(cfg, 'accounts'), `<sip:${user}@127.0.0.1:${tlsPort};transport=tls>;auth_pass=${password};regint=300;answermode=auto\n`);
  const child = spawn('stdbuf', ['-oL', '-eL', 'baresip', '-f', cfg], { cwd: cfg });
  children.push(child);
  return new Baresip(child);
}

test('a call between two TLS phones: answered, acknowledged, hung up on both sides, with a CDR', async () => {
  const sipPort = await freeSipPort();
  const tlsPort = await freePort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort });
  const made = await runCli(['cert', 'self-signed', '--apply', '--name', 'pbx.lab', '--config', file]);
  assert.equal(made.code, 0, made.stderr);
  const ca = made.stdout.trim().split('\n').pop()!;
  // SIP over TLS with the certificate; the API stays on plain HTTP for the test's requests.
  const applied = readFileSync(file, 'utf8');
  assert.match(applied, /enabled: true/);
  writeFileSync(file, applied.replace('sip_tls_port: 5061', `sip_tls_port: ${tlsPort}`).replace('enabled: true', 'enabled: false'));
  const token = await createToken(file);
  server = await RunningServer.start(file, port);

  const pw: Record<string, string> = {};
  for (const n of ['4101', '4102']) {
    // Default digest settings (SHA-256 and MD5): baresip is challenged with MD5 alone, by its User-Agent.
    const r = await server.api('POST', '/api/extensions', token, { number: n });
    assert.equal(r.status, 201);
    pw[n] = r.json.password;
  }
  const a = startBaresip('tls-a', 27100 + (sipPort % 100), '4101', pw['4101']!, tlsPort, ca);
  const b = startBaresip('tls-b', 27300 + (sipPort % 100), '4102', pw['4102']!, tlsPort, ca);
  await a.waitFor(/registered successfully/);
  await b.waitFor(/registered successfully/);
  const regs = await server.api('GET', '/api/registrations', token);
  assert.deepEqual(regs.json.registrations.map((r: any) => r.transport).sort(), ['tls', 'tls']);

  a.send('/dial 4102');
  await a.waitFor(/Call established: sip:4102@/);
  await b.waitFor(/Call established: sip:4101@/);
  // The callee got the ACK: its 200 is not retransmitted into a timeout, and the call stays up.
  await new Promise((r) => setTimeout(r, 1500));
  assert.doesNotMatch(b.out, /session closed/, 'the callee kept the call (its ACK arrived)');
  const active = await server.api('GET', '/api/calls', token);
  assert.equal(active.json.calls.length, 1);

  a.send('/hangup');
  await b.waitFor(/sip:4101@\S+: session closed/);
  const after = await server.api('GET', '/api/calls', token);
  assert.equal(after.json.calls.length, 0, 'the call ended');
  const cdr = await server.api('GET', '/api/cdr', token);
  assert.equal(cdr.json.cdr[0].result, 'answered');
  assert.equal(cdr.json.cdr[0].hangup_side, 'caller');
  // What the phones were told: Record-Route names the TLS listener.
  assert.doesNotMatch(await server.settledLog(), new RegExp(`transport=tls[^>]*:${sipPort}`));
  a.send('/quit');
  b.send('/quit');
});
