// The API's answers match the contract the web admin is built against
// (src/api/contract.ts): real answers from a server with data in it validate against
// each schema, the schemas are in the OpenAPI document, and a field a view adds is not
// dropped by the serialiser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Type from 'typebox';
import { Value } from 'typebox/value';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { buildHttp, type Http } from '../../src/api/server.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import * as C from '../../src/api/contract.ts';
import { tempDir } from '../helpers/server.ts';

let pbx: Pbx;
let app: Http;
let token: string;

before(async () => {
  const file = join(tempDir(), 'config.yml');
  pbx = await createPbx({ file, config: parseConfigText('', file) }, createLogger('silent'));
  app = await buildHttp(pbx);
  token = (await pbx.tokens.create('admin')).token;
  await pbx.extensions.create({ number: '2101', name: 'Front desk' });
  await pbx.devices.create({ mac_address: '001565c00001', extension_number: '2101', vendor: 'yealink', model: 'T46S' });
});
after(async () => {
  await app.close();
  await pbx.close();
});

const get = async (url: string) => {
  const r = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
  return r.json();
};

test('real answers validate against the contract', async () => {
  const cases: [string, ReturnType<typeof Type.Object> | typeof C.ExtensionView][] = [
    ['/api/extensions', Type.Object({ extensions: Type.Array(C.ExtensionView) })],
    ['/api/extensions/2101', C.ExtensionView],
    ['/api/provisioning/devices', Type.Object({ devices: Type.Array(C.DeviceView) })],
    ['/api/provisioning/devices/001565c00001', C.DeviceView],
    ['/api/registrations', Type.Object({ registrations: Type.Array(C.RegistrationView) })],
    ['/api/calls', Type.Object({ calls: Type.Array(C.ActiveCallView) })],
    ['/api/cdr', Type.Object({ cdr: Type.Array(C.CdrView) })],
    ['/api/dashboard', C.Dashboard],
    ['/api/status', C.Status],
  ];
  for (const [url, schema] of cases) {
    const body = await get(url);
    const errors = [...Value.Errors(schema, body)].map((e) => `${e.instancePath} ${e.message}`);
    assert.deepEqual(errors, [], url);
  }
  const device = await get('/api/provisioning/devices/001565c00001');
  assert.equal(device.config_url, pbx.files.configUrl(pbx.devices.get('001565c00001')!));
  const status = await get('/api/status');
  for (const k of ['requestsIn', 'requestsRefused', 'serverTransactions']) assert.equal(typeof status.sip.transactions[k], 'number', k);
});

test('the OpenAPI document carries the answer schemas', async () => {
  const doc = await get('/api/openapi.json');
  const ok = doc.paths['/api/extensions/{number}'].get.responses['200'];
  const schema = ok.content['application/json'].schema;
  assert.ok(schema.properties.voicemail_pin_set, 'the extension answer is described');
  assert.ok(doc.paths['/api/status'].get.responses['200'].content['application/json'].schema.properties.sip);
});
