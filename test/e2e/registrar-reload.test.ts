// Bindings outlive a restart whole: reloaded from the database, a binding keeps its
// Contact parameters (RFC 5626 +sip.instance and reg-id, feature tags), which the
// registrar lists back in every 200 and uses to recognise the same phone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';

const servers: RunningServer[] = [];
const agents: TestUa[] = [];
after(async () => {
  for (const a of agents) a.close();
  for (const s of servers) await s.stop();
});

test('a binding reloaded after a restart keeps its Contact parameters', async () => {
  const dir = tempDir();
  const port = await freePort();
  const sipPort = await freeSipPort();
  const file = writeConfig(dir, { port, sipPort });
  const password = 'qZ4-wX8-eC2-rV6';
  assert.equal((await runCli(['ext', 'add', '4001', '--password', password, '--config', file])).code, 0);
  let server = await RunningServer.start(file, port);
  servers.push(server);

  const phone = await new TestUa({ host: '127.0.0.1', port: sipPort }, '4001', password).open();
  agents.push(phone);
  const instance = '"<urn:uuid:7c9d2f1e-0b7a-4f3e-9a51-2d0c6e8b4a11>"';
  const first = await phone.register({ contact: `<sip:4001@127.0.0.1:${phone.port};ob>;+sip.instance=${instance};reg-id=1;+g.oma.sip-im`, expires: 600 });
  assert.equal(first.reply.status, 200);
  const listed = (r: { headers: Map<string, string[]> }) => (r.headers.get('contact') ?? []).find((c) => c.includes(`:${phone.port};ob>`)) ?? '';
  assert.match(listed(first.reply), /\+sip\.instance="<urn:uuid:7c9d2f1e/);

  await server.stop();
  server = await RunningServer.start(file, port);
  servers.push(server);

  // Another device of the same extension registers: the 200 lists every binding, the reloaded one too.
  const desk = await new TestUa({ host: '127.0.0.1', port: sipPort }, '4001', password).open();
  agents.push(desk);
  const second = await desk.register({ expires: 600 });
  assert.equal(second.reply.status, 200);
  const reloaded = listed(second.reply);
  assert.ok(reloaded, 'the first binding survived the restart');
  assert.match(reloaded, /;\+sip\.instance="<urn:uuid:7c9d2f1e-0b7a-4f3e-9a51-2d0c6e8b4a11>"/, 'its instance id too');
  assert.match(reloaded, /;reg-id=1/);
  assert.match(reloaded, /;\+g\.oma\.sip-im/);
  assert.match(reloaded, /;expires=\d+/);
});
