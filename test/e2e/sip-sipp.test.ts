// SIPp against the real server process on 127.0.0.1: registration with digest auth,
// calls between two registered users, CANCEL, and the error outcomes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { sipp, fromTemplate } from '../helpers/sipp.ts';

const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
const PASSWORD: Record<string, string> = { '2001': 'Kq9-mZt7-rWv2-aLpX', '2002': 'Yt4-nBv8-cXz1-qWeR', '2003': 'Pl0-oKi9-uJy7-hGtF' };
const auth = (user: string, password = PASSWORD[user]!) => `[authentication username=${user} password=${password}]`;
let configFile: string;

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  configFile = writeConfig(dir, { port, sipPort, extra: 'voicemail:\n  enabled: false\n' });
  token = await createToken(configFile);
  for (const [n, pw] of Object.entries(PASSWORD)) {
    // SIPp can only compute MD5 digests: these extensions are configured for MD5.
    const r = await runCli(['ext', 'add', n, '--password', pw, '--digest-algorithms', 'MD5', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
  }
  server = await RunningServer.start(configFile, port);
});
after(async () => {
  await server?.stop();
});

const SERVER = () => ({ host: '127.0.0.1', port: sipPort });

async function registrations(): Promise<{ extension: string; contact: string; source: string; transport: string; user_agent: string; expires: number }[]> {
  const r = await server.api('GET', '/api/registrations', token);
  assert.equal(r.status, 200);
  return r.json.registrations;
}

async function register(user: string, contactPort: number, localPort: number, expires = 300, scenario = 'register.xml', password?: string) {
  return sipp({ scenario, rows: [`${user};${auth(user, password)};${contactPort};${expires}`], localPort, server: SERVER(), dir });
}

test('REGISTER with digest auth → 200 and the binding is listed', async () => {
  const r = await register('2001', 25061, 25061);
  assert.equal(r.successful, 1, r.output);
  const regs = await registrations();
  const mine = regs.find((x) => x.extension === '2001');
  assert.ok(mine, 'binding listed');
  assert.equal(mine.contact, 'sip:2001@127.0.0.1:25061;transport=UDP');
  assert.equal(mine.source, '127.0.0.1:25061');
  assert.equal(mine.transport, 'udp');
  assert.equal(mine.user_agent, 'SIPp');
  assert.ok(mine.expires > 250 && mine.expires <= 300);
  await server.waitForLog(/Extension 2001 registered sip:2001@127\.0\.0\.1:25061/);
  // The CLI shows the same, read from the running server.
  const cli = await runCli(['reg', 'list', '--json', '--config', configFile]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(JSON.parse(cli.stdout).find((x: any) => x.extension === '2001').source, '127.0.0.1:25061');
});

test('a wrong password gets 401 again and no binding', async () => {
  const r = await register('2003', 25063, 25063, 300, 'register-wrong.xml', 'not-the-password');
  assert.equal(r.successful, 1, r.output);
  assert.ok(!(await registrations()).some((x) => x.extension === '2003'));
  await server.waitForLog(/REGISTER authentication failed for 2003 from 127\.0\.0\.1: wrong_password/);
});

test('Expires: 0 removes the binding', async () => {
  assert.equal((await register('2003', 25064, 25064)).successful, 1);
  assert.ok((await registrations()).some((x) => x.extension === '2003'));
  assert.equal((await register('2003', 25064, 25064, 0)).successful, 1);
  assert.ok(!(await registrations()).some((x) => x.extension === '2003'));
});

test('a call between two registered users: ringing, answer, ACK, caller hangs up', async () => {
  // The callee SIPp answers on 25072; it registers that contact from another port.
  assert.equal((await register('2002', 25072, 25073)).successful, 1);
  const callee = sipp({ scenario: 'uas-answer.xml', localPort: 25072, dir, timeoutSeconds: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const caller = await sipp({ scenario: 'uac-call.xml', rows: [`2001;${auth('2001')};2002`], localPort: 25074, server: SERVER(), dir, timeoutSeconds: 15 });
  assert.equal(caller.successful, 1, caller.output);
  assert.equal((await callee).successful, 1);
  const cdr = await waitCdr((c) => c.caller === '2001' && c.callee === '2002' && c.hangup_side === 'caller');
  assert.equal(cdr.result, 'answered');
  assert.ok(cdr.answered_at);
  const cli = await runCli(['cdr', '--json', '--config', configFile]);
  assert.equal(JSON.parse(cli.stdout)[0].call_id, cdr.call_id);
  const calls = await runCli(['calls', '--json', '--config', configFile]);
  assert.deepEqual(JSON.parse(calls.stdout), [], 'no call in progress');
});

test('the callee can hang up too', async () => {
  const callee = sipp({ scenario: 'uas-answer-then-hang-up.xml', localPort: 25072, dir, timeoutSeconds: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const caller = await sipp({ scenario: 'uac-call-callee-hangs-up.xml', rows: [`2001;${auth('2001')};2002`], localPort: 25075, server: SERVER(), dir, timeoutSeconds: 15 });
  assert.equal(caller.successful, 1, caller.output);
  assert.equal((await callee).successful, 1);
  const cdr = await waitCdr((c) => c.caller === '2001' && c.hangup_side === 'callee');
  assert.equal(cdr.result, 'answered');
});

test('CANCEL before answer → 487 to the caller', async () => {
  const callee = sipp({ scenario: 'uas-ring-until-cancel.xml', localPort: 25072, dir, timeoutSeconds: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const caller = await sipp({ scenario: 'uac-cancel.xml', rows: [`2001;${auth('2001')};2002`], localPort: 25076, server: SERVER(), dir, timeoutSeconds: 15 });
  assert.equal(caller.successful, 1, caller.output);
  assert.equal((await callee).successful, 1);
  const cdr = await waitCdr((c) => c.result === 'cancelled');
  assert.equal(cdr.status, 487);
});

test('INVITE to an unknown extension → 404; to a known unregistered one → 480', async () => {
  const r404 = await sipp({ scenario: fromTemplate(dir, 'uac-refused.template.xml', { STATUS: '404' }), rows: [`2001;${auth('2001')};7777`], localPort: 25077, server: SERVER(), dir });
  assert.equal(r404.successful, 1, r404.output);
  const r480 = await sipp({ scenario: fromTemplate(dir, 'uac-refused.template.xml', { STATUS: '480' }), rows: [`2001;${auth('2001')};2003`], localPort: 25078, server: SERVER(), dir });
  assert.equal(r480.successful, 1, r480.output);
  await waitCdr((c) => c.callee === '7777' && c.result === 'unknown_extension');
  await waitCdr((c) => c.callee === '2003' && c.result === 'unavailable');
});

test('an unauthenticated INVITE → 407', async () => {
  const r = await sipp({ scenario: 'uac-no-auth.xml', rows: [`2001;;2002`], localPort: 25079, server: SERVER(), dir });
  assert.equal(r.successful, 1, r.output);
});

test('registrations survive a restart of the process', async () => {
  const before = (await registrations()).map((r) => `${r.extension} ${r.contact}`).sort();
  assert.ok(before.length >= 2);
  await server.stop();
  server = await RunningServer.start(configFile, server.port);
  const afterRestart = await registrations();
  assert.deepEqual(afterRestart.map((r) => `${r.extension} ${r.contact}`).sort(), before);
  assert.ok(afterRestart.every((r) => r.expires > 0 && r.expires <= 300), 'expiry times carried over');
  // And the reloaded binding still routes calls.
  const callee = sipp({ scenario: 'uas-answer.xml', localPort: 25072, dir, timeoutSeconds: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const caller = await sipp({ scenario: 'uac-call.xml', rows: [`2001;${auth('2001')};2002`], localPort: 25080, server: SERVER(), dir, timeoutSeconds: 15 });
  assert.equal(caller.successful, 1, caller.output);
  assert.equal((await callee).successful, 1);
});

test('no SIP password or token appears in the server log', async () => {
  const settled = await server.settledLog();
  for (const pw of Object.values(PASSWORD)) assert.ok(!settled.includes(pw), 'a password is in the log');
  assert.ok(!settled.includes(token));
});

async function waitCdr(match: (c: any) => boolean, timeoutMs = 5000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await server.api('GET', '/api/cdr?limit=100', token);
    const hit = r.json.cdr.find(match);
    if (hit) return hit;
    if (Date.now() > deadline) assert.fail(`no CDR matched in ${JSON.stringify(r.json.cdr)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
