// The provisioning pipeline (match, authorise, render, record) on the real services and
// a real SQLite file: a per-device file carries SIP passwords, so a request that may not
// have it must never get as far as rendering it; one that may is rendered once and then
// served from the cache until something it depends on changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import type { FetchRequest } from '../../src/provisioning/fetch-outcomes.ts';
import { digestAuthorization, parseChallenges } from '../helpers/http-digest.ts';
import { tempDir } from '../helpers/server.ts';

const LAN = '192.168.1.50';

async function open() {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const config = parseConfigText('server:\n  external_ip: 192.168.1.14\ndatabase:\n  path: data/pbx.db\n', file);
  return createPbx({ file, config }, createLogger('silent'));
}

/** Counts every render of Yealink's per-device template, at the renderer itself (inline or sent to a render thread). */
function countRenders(pbx: Pbx): () => number {
  const yealink = pbx.vendors.get('yealink')!;
  const tpl = pbx.templates.get(yealink, 'T46S', 'mac.cfg.liquid')!;
  let renders = 0;
  const renderSync = tpl.engine.renderSync.bind(tpl.engine);
  tpl.engine.renderSync = ((parsed, ctx, opts) => {
    if (parsed === tpl.parsed) renders++;
    return renderSync(parsed, ctx, opts);
  }) as typeof tpl.engine.renderSync;
  const threads = pbx.files.threads;
  if (threads) {
    const render = threads.render.bind(threads);
    threads.render = (job) => {
      if (job.file === tpl.file) renders++;
      return render(job);
    };
  }
  return () => renders;
}

function get(mac: string, more: Partial<FetchRequest> = {}): FetchRequest {
  const path = `/provision/${mac}.cfg`;
  return { fileName: `${mac}.cfg`, path, target: path, method: 'GET', ip: LAN, userAgent: null, localPort: 8080, legacy: false, ...more };
}

async function outcomes(pbx: Pbx, mac: string): Promise<string[]> {
  return (await pbx.requestLog.list({ mac })).map((r) => `${r.status} ${r.outcome}`).reverse();
}

test('a refused per-device fetch never renders the file: no credential, a wrong one, outside the first-fetch window', async () => {
  const pbx = await open();
  const renders = countRenders(pbx);
  const ext = await pbx.extensions.create({ number: '1001' });
  // Authenticated once: its window is closed, it must show its credential.
  const closed = await pbx.devices.create({ mac_address: '001565000011', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  pbx.devices.recordAuthenticated(closed.mac);
  // Used its window 11 minutes ago: closed too, though first_fetch_minutes (30) has not passed.
  const used = await pbx.devices.create({ mac_address: '001565000012', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  pbx.devices.recordWindowUse(used.mac, new Date(Date.now() - 11 * 60_000).toISOString());
  // Just added: its window is open, but only for first_fetch_networks.
  const fresh = await pbx.devices.create({ mac_address: '001565000013', extension_number: '1001', vendor: 'yealink', model: 'T46S' });

  const none = await pbx.provisioning.handle(get(closed.mac));
  assert.equal(none.status, 401);
  assert.equal(none.body, undefined);
  const challenge = parseChallenges(none.challenge!.join(', ')).find((c) => c.algorithm === 'MD5')!;
  const wrongDigest = await pbx.provisioning.handle(
    get(closed.mac, { authorization: digestAuthorization(challenge, { user: closed.credential.user, password: 'WrongPassword123' }, 'GET', `/provision/${closed.mac}.cfg`) }),
  );
  assert.equal(wrongDigest.status, 401);
  const basic = (password: string) => `Basic ${Buffer.from(`${closed.credential.user}:${password}`).toString('base64')}`;
  const wrongBasic = await pbx.provisioning.handle(get(closed.mac, { secure: true, authorization: basic('WrongPassword123') }));
  assert.equal(wrongBasic.status, 401);
  const windowUsed = await pbx.provisioning.handle(get(used.mac));
  assert.equal(windowUsed.status, 401);
  const outsideNetworks = await pbx.provisioning.handle(get(fresh.mac, { ip: '203.0.113.9' }));
  assert.equal(outsideNetworks.status, 401);
  assert.equal(renders(), 0, 'no refused request rendered the file that holds the SIP password');
  assert.deepEqual(await outcomes(pbx, closed.mac), ['401 auth_required', '401 auth_failed', '401 auth_failed']);
  assert.deepEqual(await outcomes(pbx, used.mac), ['401 auth_required']);
  assert.deepEqual(await outcomes(pbx, fresh.mac), ['401 auth_required']);

  // The same requests, allowed: rendered when first asked for, then from the cache.
  const right = await pbx.provisioning.handle(get(closed.mac, { secure: true, authorization: basic(closed.credential.password) }));
  assert.equal(right.status, 200);
  assert.match(right.body!, new RegExp(`account\\.1\\.password = ${ext.password}\\n`));
  assert.equal(renders(), 1);
  const again = await pbx.provisioning.handle(get(closed.mac, { secure: true, authorization: basic(closed.credential.password) }));
  assert.equal(again.body, right.body);
  assert.equal(renders(), 1, 'the second fetch is served from the cache');
  const inWindow = await pbx.provisioning.handle(get(fresh.mac));
  assert.equal(inWindow.status, 200);
  assert.equal(renders(), 2, 'another device: its own render');
  assert.equal((await pbx.provisioning.handle(get(fresh.mac))).status, 200);
  assert.equal(renders(), 2);
  assert.deepEqual(await outcomes(pbx, fresh.mac), ['401 auth_required', '200 delivered', '200 delivered']);

  // A change to the device drops its cached file: the next fetch renders anew.
  await pbx.devices.update(fresh.mac, { label: 'Front desk' });
  assert.equal((await pbx.provisioning.handle(get(fresh.mac))).status, 200);
  assert.equal(renders(), 3);
  await pbx.close();
});

test('common files and unknown devices are answered without a challenge and without rendering a device file', async () => {
  const pbx = await open();
  const renders = countRenders(pbx);
  const common = await pbx.provisioning.handle({ ...get('y000000000066'), fileName: 'y000000000066.cfg', ip: '203.0.113.9' });
  assert.equal(common.status, 200);
  assert.equal(common.challenge, undefined);
  const unknown = await pbx.provisioning.handle(get('001565000099'));
  assert.equal(unknown.status, 404, 'an unknown device gets its 404 before any challenge');
  assert.equal(unknown.challenge, undefined);
  assert.equal(renders(), 0);
  await pbx.close();
});
