// SIP trunks against a carrier: SIPp as the provider's registrar, challenging every
// REGISTER and checking the answer with the trunk's credentials. The pbx registers its
// trunk, refreshes it before the granted expiry (same Call-ID, higher CSeq), shows the
// state in the API; a wrong password shows as failed with the provider's answer and a
// retry planned; bad settings are refused with the field named; the password is sealed
// in the database and never shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { sipp, sippTrace } from '../helpers/sipp.ts';

const dir = tempDir();
let server: RunningServer;
let token: string;
let configFile: string;

before(async () => {
  const port = await freePort();
  // No OPTIONS pings until the health test turns them on: the registrar scenarios expect REGISTER only.
  const file = (configFile = writeConfig(dir, { port, sipPort: await freeSipPort(), extra: 'sip:\n  trunk_options_seconds: 0\n' }));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
});
after(async () => {
  await server?.stop();
});

async function trunkState(name: string, until: (s: { state: string; last_error: string | null }) => boolean, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await server.api('GET', `/api/trunks/${name}`, token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (until(r.json.status)) return r.json;
    assert.ok(Date.now() < deadline, `trunk ${name}: ${JSON.stringify(r.json.status)}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

test('the trunk registers with the carrier using its credentials, refreshes before expiry, and the API shows it registered', async () => {
  const carrierPort = await freeSipPort();
  const carrier = sipp({ scenario: 'carrier-registrar.xml', rows: ['pbxtrunk;s3cret-Trunk'], localPort: carrierPort, dir, timeoutSeconds: 20, extra: ['-trace_msg'] });
  const created = await server.api('POST', '/api/trunks', token, {
    name: 'carrier',
    host: '127.0.0.1',
    port: carrierPort,
    username: 'pbxtrunk',
    password: 's3cret-Trunk',
    contact_user: '5551000',
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.equal(created.json.password_set, true);
  assert.equal('password' in created.json, false, 'the password is never shown');

  const registered = await trunkState('carrier', (s) => s.state === 'registered');
  assert.equal(registered.status.target, `udp:127.0.0.1:${carrierPort}`);
  assert.ok(Date.parse(registered.status.registered_until) > Date.now(), 'registered until a time to come');
  await server.waitForLog(/✓ Trunk carrier registered with 127\.0\.0\.1/, 2000);

  // The carrier granted 8 s: the pbx comes back before they run out, and the carrier's
  // scenario (two registrations, each answer checked against the credentials) ends well.
  const run = await carrier;
  assert.equal(run.code, 0, run.output.slice(-2000));
  const log = sippTrace(dir, 'carrier-registrar');
  const registers = log.split(/\n(?=REGISTER )/).filter((m) => m.startsWith('REGISTER '));
  assert.equal(registers.length, 4, 'two registrations, each challenged once');
  const header = (m: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(m)?.[1]?.trim();
  assert.equal(new Set(registers.map((m) => header(m, 'Call-ID'))).size, 1, 'one Call-ID for the registration and its refresh');
  const cseqs = registers.map((m) => Number(header(m, 'CSeq')!.split(' ')[0]));
  assert.deepEqual(cseqs, [...cseqs].sort((a, b) => a - b), `CSeq grows: ${cseqs}`);
  assert.equal(new Set(cseqs).size, 4);
  assert.match(header(registers[0]!, 'Contact')!, /<sip:5551000@127\.0\.0\.1:\d+;transport=udp>/, 'the Contact carries contact_user');
  assert.equal(header(registers[0]!, 'Expires'), '3600');
  assert.match(header(registers[1]!, 'Authorization')!, /username="pbxtrunk".*realm="carrier\.test"/);

  // Sealed in the database: the password is not there in the clear.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'data', 'pbx.db'), { readonly: true });
  const row = db.prepare("SELECT password_enc FROM trunks WHERE name = 'carrier'").get() as { password_enc: string };
  db.close();
  assert.match(row.password_enc, /^enc:v1:/);
  assert.ok(!row.password_enc.includes('s3cret-Trunk'));
});

test('a wrong password shows as failed with the carrier\'s answer, and another attempt is planned', async () => {
  const carrierPort = await freeSipPort();
  const carrier = sipp({ scenario: 'carrier-registrar.xml', rows: ['pbxtrunk;the-right-one'], localPort: carrierPort, dir, timeoutSeconds: 10 });
  assert.equal((await server.api('POST', '/api/trunks', token, { name: 'wrong', host: '127.0.0.1', port: carrierPort, username: 'pbxtrunk', password: 'not-the-right-one' })).status, 201);
  const failed = await trunkState('wrong', (s) => s.state === 'failed');
  assert.match(failed.status.last_error, new RegExp(`udp:127\\.0\\.0\\.1:${carrierPort}: 403 Forbidden`));
  assert.equal(failed.status.failures, 1);
  const next = Date.parse(failed.status.next_attempt_at) - Date.now();
  assert.ok(next > 20_000 && next <= 30_000, `next attempt in about 30 s (${next} ms)`);
  await server.waitForLog(/Trunk wrong: registration failed \(udp:127\.0\.0\.1:\d+: 403 Forbidden\); trying again in 30 s/, 2000);
  await carrier;
  assert.equal((await server.api('DELETE', '/api/trunks/wrong', token)).status, 204);
  assert.equal((await server.api('GET', '/api/trunks/wrong', token)).status, 404);
});

test('malformed trunk settings are refused with the field named, and nothing is stored', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ name: 'x1', host: 'sip.example.com', transport: 'sctp', register: false }, 'transport'],
    [{ name: 'x2', host: 'sip.example.com', username: 'u' }, 'password'],
    [{ name: 'x3', host: 'not a host!', register: false }, 'host'],
    [{ name: 'x4', host: 'sip.example.com', register: false, allowed_addresses: ['10.0.0.0/33'] }, 'allowed_addresses'],
    [{ name: 'x5', host: 'sip.example.com', register: false, port: 70000 }, 'port'],
    [{ name: 'Bad Name', host: 'sip.example.com', register: false }, 'name'],
    [{ name: 'x6', host: 'sip.example.com', register: false, codecs: ['G729'] }, 'codecs'],
    [{ name: 'x7', host: 'sip.example.com', register: false, outbound_proxy: 'proxy:99999' }, 'outbound_proxy'],
  ];
  for (const [body, field] of cases) {
    const r = await server.api('POST', '/api/trunks', token, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.json)}`);
    assert.ok(r.json.field === field || String(r.json.field).startsWith(`${field}.`), `${JSON.stringify(body)}: field ${r.json.field}, expected ${field} (${r.json.message})`);
  }
  const list = await server.api('GET', '/api/trunks', token);
  assert.deepEqual(list.json.trunks.map((t: { name: string }) => t.name).filter((n: string) => /^x\d|Bad/.test(n)), []);
  // An IP-authenticated trunk needs no credentials and registers nowhere.
  const ip = await server.api('POST', '/api/trunks', token, { name: 'ipauth', host: 'sip.example.com', register: false, allowed_addresses: ['192.0.2.0/24'] });
  assert.equal(ip.status, 201, JSON.stringify(ip.json));
  assert.equal(ip.json.status.state, 'ip-authenticated');
  const dup = await server.api('POST', '/api/trunks', token, { name: 'ipauth', host: 'sip.example.com', register: false });
  assert.equal(dup.status, 409);
});

test('OPTIONS health: a provider that answers is up with its round-trip time; one that stops answering is down, logged once each way', async () => {
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('trunk_options_seconds: 0', 'trunk_options_seconds: 1'));
  await server.waitForLog(/Configuration reloaded \(file changed\): .*sip.trunk_options_seconds/, 10_000);
  const port = await freeSipPort();
  const provider = sipp({ scenario: 'carrier-options.xml', localPort: port, dir, calls: 3, timeoutSeconds: 10 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await server.api('POST', '/api/trunks', token, { name: 'pinged', host: '127.0.0.1', port, register: false })).status, 201);
  const up = await trunkState('pinged', (s) => (s as unknown as { health: { up: boolean | null } }).health.up === true, 5000);
  assert.equal(typeof up.status.health.rtt_ms, 'number');
  assert.ok(up.status.health.rtt_ms >= 0 && up.status.health.rtt_ms < 1000, `rtt ${up.status.health.rtt_ms} ms`);
  assert.equal(up.status.state, 'ip-authenticated');
  await server.waitForLog(/Trunk pinged: the provider answers \(OPTIONS, [\d.]+ ms\)/, 1000);
  assert.equal((await provider).code, 0, 'three pings answered');
  // SIPp has gone: the next ping goes unanswered.
  const down = await trunkState('pinged', (s) => (s as unknown as { health: { up: boolean | null } }).health.up === false, 8000);
  assert.match(down.status.health.last_error, new RegExp(`udp:127\\.0\\.0\\.1:${port}: no answer`));
  await server.waitForLog(/Trunk pinged: the provider does not answer OPTIONS/, 1000);
  assert.equal((await server.api('DELETE', '/api/trunks/pinged', token)).status, 204);
});
