// The REST API in-process (fastify inject) on a real SQLite file: every route needs a
// token, bad input gets a 400 that names the field, unknown resources a 404.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { buildHttp, type Http } from '../../src/api/server.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/server.ts';

let pbx: Pbx;
let app: Http;
let admin: string;
let reader: string;
const dir = tempDir();

before(async () => {
  const file = join(dir, 'config.yml');
  const config = parseConfigText(`provisioning:\n  custom_templates_dir: templates\n`, file);
  pbx = await createPbx({ file, config }, createLogger('silent'));
  app = await buildHttp(pbx);
  admin = (await pbx.tokens.create('admin')).token;
  reader = (await pbx.tokens.create('viewer', 'read-only')).token;
});
after(async () => {
  await app.close();
  await pbx.close();
});

const call = (method: string, url: string, token: string | null, payload?: unknown) =>
  app.inject({ method: method as never, url, payload: payload as never, headers: token ? { authorization: `Bearer ${token}` } : {} });

function concrete(url: string): string {
  return url
    .replace(':number', '1001')
    .replace(':mac', 'aabbccddeeff')
    .replace(':vendor', 'yealink')
    .replace(':model', 'T46S')
    .replace('*', 'x');
}

// The one route that needs no token: it is how a person gets one.
const PUBLIC = new Set(['POST /api/auth/login', 'GET /api/auth/setup', 'HEAD /api/auth/setup', 'POST /api/auth/setup']);

test('every /api route answers 401 without a token (walks the route table)', async () => {
  const routes = app.routeList.filter((r) => (r.url.startsWith('/api') || r.url === '/metrics') && !PUBLIC.has(`${r.method} ${r.url}`));
  assert.ok(routes.length >= 15, `found ${routes.length} API routes`);
  for (const r of routes) {
    const res = await call(r.method, concrete(r.url), null, ['POST', 'PUT'].includes(r.method) ? {} : undefined);
    assert.equal(res.statusCode, 401, `${r.method} ${r.url}`);
    assert.match(res.headers['www-authenticate'] as string, /^Bearer/);
    const wrong = await call(r.method, concrete(r.url), 'pbx_not-a-real-token');
    assert.equal(wrong.statusCode, 401, `${r.method} ${r.url} with a wrong token`);
  }
});

test('a read-only token reads but cannot write', async () => {
  assert.equal((await call('GET', '/api/extensions', reader)).statusCode, 200);
  const routes = app.routeList.filter(
    (r) => r.url.startsWith('/api') && !['GET', 'HEAD'].includes(r.method) && !PUBLIC.has(`${r.method} ${r.url}`) && r.url !== '/api/auth/logout',
  );
  for (const r of routes) {
    const res = await call(r.method, concrete(r.url), reader, {});
    assert.equal(res.statusCode, 403, `${r.method} ${r.url}`);
  }
  // Ending its own session is the one thing a read-only token may do.
  const { token: session } = await pbx.tokens.create('session:viewer-logout', 'read-only');
  assert.equal((await call('GET', '/api/extensions', session)).statusCode, 200);
  assert.equal((await call('POST', '/api/auth/logout', session)).statusCode, 204);
  assert.equal((await call('GET', '/api/extensions', session)).statusCode, 401, 'revoked');
});

test('extensions: create shows the password once, lists never show it', async () => {
  const created = await call('POST', '/api/extensions', admin, { number: '1001', name: 'Reception' });
  assert.equal(created.statusCode, 201);
  const password = created.json().password;
  assert.match(password, /^[A-Za-z0-9]{20}$/);
  for (const url of ['/api/extensions', '/api/extensions/1001']) {
    const body = (await call('GET', url, admin)).body;
    assert.ok(!body.includes(password), `${url} must not show the secret`);
    assert.ok(body.includes('Reception'));
  }
  const dup = await call('POST', '/api/extensions', admin, { number: '1001' });
  assert.equal(dup.statusCode, 409);
  const regen = await call('PUT', '/api/extensions/1001', admin, { regenerate_password: true });
  assert.equal(regen.statusCode, 200);
  assert.notEqual(regen.json().password, password);
  assert.equal(pbx.extensions.get('1001')!.secret, regen.json().password);
});

test('bad bodies get 400 naming the field', async () => {
  const cases: [string, string, unknown, string][] = [
    ['POST', '/api/extensions', { number: 'abc' }, 'number'],
    ['POST', '/api/extensions', { name: 'no number' }, 'number'],
    ['POST', '/api/extensions', { number: '1002', password: 'ext1002' }, 'password'],
    ['POST', '/api/extensions', { number: '1003', color: 'red' }, 'color'],
    ['POST', '/api/provisioning/devices', { mac_address: 'zz:zz', extension_number: '1001', vendor: 'yealink', model: 'T46S' }, 'mac_address'],
    ['POST', '/api/provisioning/devices', { mac_address: '00:15:65:00:00:01', extension_number: '1999', vendor: 'yealink', model: 'T46S' }, 'extension_number'],
    ['POST', '/api/provisioning/devices', { mac_address: '00:15:65:00:00:01', extension_number: '1001', vendor: 'nokia', model: 'T46S' }, 'vendor'],
    ['POST', '/api/provisioning/devices', { mac_address: '00:15:65:00:00:01', extension_number: '1001', vendor: 'yealink', model: 'T99' }, 'model'],
    ['POST', '/api/provisioning/devices', { mac_address: '00:15:65:00:00:01', vendor: 'yealink', model: 'T46S' }, 'extension_number'],
  ];
  for (const [method, url, body, field] of cases) {
    const res = await call(method, url, admin, body);
    assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
    assert.equal(res.json().field, field, res.body);
    assert.ok(res.json().message.length > 10);
    assert.ok(!res.body.includes('    at '), 'no stack trace to the client');
  }
  const missingExt = await call('POST', '/api/provisioning/devices', admin, { mac_address: '00:15:65:00:00:01', extension_number: '1999', vendor: 'yealink', model: 'T46S' });
  assert.match(missingExt.json().message, /Extension 1999 not found/);
  const unknownVendor = await call('POST', '/api/provisioning/devices', admin, { mac_address: '00:15:65:00:00:01', extension_number: '1001', vendor: 'nokia', model: 'x' });
  assert.match(unknownVendor.json().message, /Unknown vendor "nokia"; supported vendors: yealink/);
  assert.equal(pbx.devices.list().length, 0, 'refused requests changed nothing');
});

test('unknown resources get 404', async () => {
  assert.equal((await call('GET', '/api/extensions/4242', admin)).statusCode, 404);
  assert.equal((await call('GET', '/api/provisioning/devices/00:15:65:ff:ff:ff', admin)).statusCode, 404);
  assert.equal((await call('DELETE', '/api/provisioning/devices/00:15:65:ff:ff:ff', admin)).statusCode, 404);
  assert.equal((await call('GET', '/api/provisioning/templates/nokia/x', admin)).statusCode, 404);
  assert.equal((await call('GET', '/api/nothing-here', admin)).statusCode, 404);
});

test('devices: any MAC form, one normalised record, live URL; extension in use cannot be deleted', async () => {
  const res = await call('POST', '/api/provisioning/devices', admin, { mac_address: '0015.6500.0001', extension_number: '1001', vendor: 'yealink', model: 't46s' });
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(res.json().mac_address, '001565000001');
  assert.equal(res.json().model, 'T46S');
  assert.equal(res.json().config_url, 'http://127.0.0.1:8080/provision/001565000001.cfg');
  for (const form of ['00:15:65:00:00:01', '00-15-65-00-00-01', '001565000001']) {
    assert.equal((await call('GET', `/api/provisioning/devices/${form}`, admin)).json().mac_address, '001565000001');
  }
  const dup = await call('POST', '/api/provisioning/devices', admin, { mac_address: '00:15:65:00:00:01', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  assert.equal(dup.statusCode, 409);
  const del = await call('DELETE', '/api/extensions/1001', admin);
  assert.equal(del.statusCode, 409);
  assert.match(del.json().message, /001565000001/);
  const upd = await call('PUT', '/api/provisioning/devices/001565000001', admin, { label: 'Front desk', overrides: { 'phone_setting.backlight_time': '60' } });
  assert.equal(upd.statusCode, 200, upd.body);
  const file = pbx.files.resolve('001565000001.cfg');
  assert.match(file.body!, /^phone_setting\.backlight_time = 60$/m, 'per-device override rendered');
});

test('vendors, templates, requests, diagnostics, status, openapi', async () => {
  const vendors = (await call('GET', '/api/provisioning/vendors', admin)).json();
  assert.ok(vendors.vendors.includes('yealink'));
  assert.deepEqual(vendors.models.yealink.slice().sort(), ['T23G', 'T28G', 'T33G', 'T46S', 'T54W']);
  assert.deepEqual(Object.keys(vendors.experimental), ['zultys'], 'only the ZIP37G is not settled');
  assert.match(vendors.experimental.zultys.ZIP37G, /INI sections/);
  const list = (await call('GET', '/api/provisioning/templates', admin)).json();
  assert.ok(list.templates.some((t: any) => t.vendor === 'yealink' && t.model === 'T46S'));
  const tpl = await call('GET', '/api/provisioning/templates/yealink/T46S', admin);
  assert.equal(tpl.statusCode, 200);
  assert.equal(tpl.json().file, 'mac.cfg.liquid');
  assert.match(tpl.json().content, /account\.\{\{ l\.index \}\}\.password/);

  const bad = await call('PUT', '/api/provisioning/templates/yealink/T46S', admin, { content: '#!version:1.0.0.1\nx = {{ line.pasword }}\n' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /unknown variable "line\.pasword"/);
  const good = await call('PUT', '/api/provisioning/templates/yealink/T46S', admin, {
    content: tpl.json().content + 'custom.marker = {{ line.number }}\n',
  });
  assert.equal(good.statusCode, 200, good.body);
  const again = await call('GET', '/api/provisioning/templates/yealink/T46S', admin);
  assert.equal(again.json().custom, true);
  assert.match(pbx.files.resolve('001565000001.cfg').body!, /^custom\.marker = 1001$/m, 'saved template is used at once');

  await pbx.provisioning.handle({ fileName: 'c0ffee000002.cfg', path: '/provision/c0ffee000002.cfg', method: 'GET', ip: '192.0.2.7', userAgent: 'Yealink SIP-T54W 96.86.0.70 c0:ff:ee:00:00:02' });
  const reqs = (await call('GET', '/api/provisioning/requests?outcome=unknown_device', admin)).json();
  assert.equal(reqs.requests[0].mac, 'c0ffee000002');
  assert.equal(reqs.requests[0].model, 'T54W');
  const diag = (await call('GET', '/api/provisioning/diagnostics', admin)).json();
  assert.equal(diag.url_format, 'http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg');
  assert.equal(diag.sample_url, 'http://127.0.0.1:8080/provision/aabbccddeeff.cfg');
  assert.ok(diag.recent_failures.some((f: any) => f.mac === 'c0ffee000002'));
  assert.ok(diag.warnings.some((w: string) => /external_ip is 127\.0\.0\.1/.test(w)));
  const status = (await call('GET', '/api/status', admin)).json();
  assert.equal(status.api_port, 8080);
  assert.match(status.database, /^sqlite:/);
  const openapi = (await call('GET', '/api/openapi.json', admin)).json();
  assert.ok(openapi.paths['/api/extensions'] && openapi.paths['/api/provisioning/devices/{mac}']);
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200, '/health needs no token');
  const metrics = await call('GET', '/metrics', admin);
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^pbx_sip_registrations 0$/m);
  assert.match(metrics.body, /^pbx_provisioning_devices 1$/m);
});

test('docs/API.md documents every API route', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');
  for (const r of app.routeList.filter((x) => x.url.startsWith('/api') && x.method !== 'HEAD')) {
    const url = r.url.replace(/:(\w+)/g, '{$1}');
    assert.ok(doc.includes(`${r.method} ${url}`), `docs/API.md lacks ${r.method} ${url}`);
  }
});

test('admin login: a session token with the account\'s role; lockout after repeated failures', async () => {
  const { AdminStore } = await import('../../src/accounts/admins.ts');
  const admins = new AdminStore(pbx.database.db, pbx.tokens);
  const pw = await admins.create('alice', 'admin');
  await admins.create('viewer', 'read-only', 'viewer-password-123');
  assert.equal((await pbx.database.db.selectFrom('admins').select('password_hash').where('username', '=', 'alice').executeTakeFirstOrThrow()).password_hash.startsWith('scrypt$'), true);
  const ok = await call('POST', '/api/auth/login', null, { username: 'alice', password: pw });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().role, 'admin');
  assert.equal((await call('GET', '/api/status', ok.json().token)).statusCode, 200, 'the session token works');
  const ro = await call('POST', '/api/auth/login', null, { username: 'viewer', password: 'viewer-password-123' });
  assert.equal((await call('POST', '/api/extensions', ro.json().token, { number: '1990' })).statusCode, 403, 'read-only role');
  const unknown = await call('POST', '/api/auth/login', null, { username: 'mallory', password: 'x' });
  const wrong = await call('POST', '/api/auth/login', null, { username: 'alice', password: 'wrong' });
  assert.equal(unknown.statusCode, 401);
  assert.equal(wrong.statusCode, 401);
  assert.equal(unknown.json().message, wrong.json().message, 'an unknown user and a wrong password look the same');
  for (let i = 0; i < 3; i++) assert.equal((await call('POST', '/api/auth/login', null, { username: 'alice', password: 'wrong' })).statusCode, 401);
  const locked = await call('POST', '/api/auth/login', null, { username: 'alice', password: 'wrong' });
  assert.equal(locked.statusCode, 423, 'the 5th failure locks the account');
  const evenRight = await call('POST', '/api/auth/login', null, { username: 'alice', password: pw });
  assert.ok([423, 429].includes(evenRight.statusCode), 'locked (or rate-limited) even with the right password');
  // That was the 9th attempt from this address; the 10th is allowed, the 11th is not.
  assert.equal((await call('POST', '/api/auth/login', null, { username: 'viewer', password: 'viewer-password-123' })).statusCode, 200);
  const limited = await call('POST', '/api/auth/login', null, { username: 'viewer', password: 'viewer-password-123' });
  assert.equal(limited.statusCode, 429, 'more than 10 attempts a minute from one address');
});
