// Phone files rendered on a render thread (provisioning.render_threads): the same bytes as
// on the main thread for every vendor, one render for phones asking at once, nothing stale
// kept when the device changes meanwhile, and a lost thread costs no phone its file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import type { FetchRequest } from '../../src/provisioning/fetch-outcomes.ts';
import type { MatchedFile } from '../../src/provisioning/phone-files.ts';
import { RenderError } from '../../src/provisioning/render-threads.ts';
import { tempDir } from '../helpers/server.ts';

async function open(threads: number): Promise<Pbx> {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  // Every device's first-fetch window is open to this LAN: no credential needed here.
  const config = parseConfigText(`server:\n  external_ip: 192.168.1.14\ndatabase:\n  path: data/pbx.db\nprovisioning:\n  render_threads: ${threads}\n`, file);
  return createPbx({ file, config }, createLogger('silent'));
}

function get(fileName: string): FetchRequest {
  const path = `/provision/${fileName}`;
  return { fileName, path, target: path, method: 'GET', ip: '192.168.1.50', userAgent: null, localPort: 8080, legacy: false };
}

/** Counts the jobs sent to the render threads. */
function countJobs(pbx: Pbx): () => number {
  const threads = pbx.files.threads!;
  const render = threads.render.bind(threads);
  let jobs = 0;
  threads.render = (job) => {
    jobs++;
    return render(job);
  };
  return () => jobs;
}

test('every vendor’s account file is the same byte for byte from a render thread as from the main thread', async () => {
  const pbx = await open(1);
  assert.ok(pbx.files.threads, 'render_threads: 1 gives the files a thread');
  await pbx.extensions.create({ number: '1001', name: 'Front <desk> & "co"' });
  let n = 0;
  for (const vendor of pbx.vendors.vendors) {
    const model = vendor.models[vendor.models.length - 1]!;
    const mac = `0a0b0c0d0e${(0x10 + n++).toString(16)}`;
    await pbx.devices.create({ mac_address: mac, extension_number: '1001', vendor: vendor.id, model: model.id });
    const device = pbx.devices.get(mac)!;
    const m = pbx.files.match(pbx.files.renderDeviceFile(device).fileName) as MatchedFile;
    pbx.files.invalidateAll();
    const threaded = pbx.files.renderSoon(pbx.files.match(m.fileName) as MatchedFile);
    assert.ok(threaded instanceof Promise, `${vendor.id}: a file not rendered yet goes to the thread`);
    const fromThread = await threaded;
    pbx.files.invalidateAll();
    const inline = pbx.files.render(pbx.files.match(m.fileName) as MatchedFile);
    assert.equal(fromThread.outcome, 'delivered', `${vendor.id}: ${JSON.stringify(fromThread)}`);
    assert.equal(inline.outcome, 'delivered');
    if (fromThread.outcome !== 'delivered' || inline.outcome !== 'delivered') continue;
    assert.equal(fromThread.body, inline.body, `${vendor.id} ${model.id}`);
    assert.equal(fromThread.hash, inline.hash);
    assert.equal(fromThread.contentType, inline.contentType);
  }
  assert.ok(n >= 5, 'all built-in vendors were compared');
  await pbx.close();
});

test('phones asking for the same file at once wait for one render; the next fetch is served from the cache at once', async () => {
  const pbx = await open(1);
  const jobs = countJobs(pbx);
  await pbx.extensions.create({ number: '1001' });
  await pbx.devices.create({ mac_address: '001565000021', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const answers = await Promise.all(Array.from({ length: 5 }, () => pbx.provisioning.handle(get('001565000021.cfg'))));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
  assert.equal(new Set(answers.map((a) => a.body)).size, 1);
  assert.equal(jobs(), 1, 'five requests, one render');
  const cached = pbx.provisioning.handle(get('001565000021.cfg'));
  assert.ok(!(cached instanceof Promise), 'a rendered file is answered without waiting');
  assert.equal(cached.body, answers[0]!.body);
  assert.equal(jobs(), 1);
  const logged = await pbx.requestLog.list({ mac: '001565000021' });
  assert.equal(logged.filter((r) => r.outcome === 'delivered').length, 6, 'each request is recorded once');
  await pbx.close();
});

test('a device changed while its file is rendered: the phones that asked before get the old file, and it is not kept', async () => {
  const pbx = await open(1);
  const jobs = countJobs(pbx);
  await pbx.extensions.create({ number: '1001', name: 'Before' });
  await pbx.devices.create({ mac_address: '001565000022', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const before = pbx.provisioning.handle(get('001565000022.cfg'));
  assert.ok(before instanceof Promise);
  await pbx.extensions.update('1001', { name: 'After' });
  const old = await before;
  assert.match(old.body!, /display_name = Before/);
  const now = await pbx.provisioning.handle(get('001565000022.cfg'));
  assert.match(now.body!, /display_name = After/, 'the render begun before the change was not kept');
  assert.equal(jobs(), 2);
  await pbx.close();
});

test('a render thread lost mid-render: the file is made on the main thread, and the next render starts a new thread', async () => {
  const pbx = await open(1);
  await pbx.extensions.create({ number: '1001' });
  await pbx.devices.create({ mac_address: '001565000023', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  await pbx.devices.create({ mac_address: '001565000024', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const waiting = pbx.provisioning.handle(get('001565000023.cfg'));
  await pbx.files.threads!.close();
  const answer = await waiting;
  assert.equal(answer.status, 200);
  assert.match(answer.body!, /account\.1\.user_name = 1001/);
  const next = await pbx.provisioning.handle(get('001565000024.cfg'));
  assert.equal(next.status, 200);
  await pbx.close();
});

test('a template that fails on the thread is a render error, not a lost thread', async () => {
  const pbx = await open(1);
  const yealink = pbx.vendors.get('yealink')!;
  const tpl = pbx.templates.get(yealink, 'T46S', 'mac.cfg.liquid')!;
  await assert.rejects(pbx.files.threads!.render({ spec: tpl.spec, file: tpl.file, generation: pbx.templates.generation, context: {} }), (err: Error) => {
    assert.ok(err instanceof RenderError, String(err));
    assert.match(err.message, /undefined variable/);
    return true;
  });
  await pbx.close();
});
