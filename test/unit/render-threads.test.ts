// Phone files rendered on a render thread (provisioning.render_threads): the same bytes as
// on the main thread for every vendor, one render for phones asking at once, nothing stale
// kept when the device changes meanwhile, and a lost thread costs no phone its file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pbx } from '../../src/application.ts';
import type { MatchedFile } from '../../src/provisioning/phone-files.ts';
import type { CommonContext, DeviceOwnContext } from '../../src/provisioning/context.ts';
import { RenderError, RenderThreads, type RenderJob } from '../../src/provisioning/render-threads.ts';
import { tempDir } from '../helpers/server.ts';
import { countRenderJobs, lanGet, openRenderingPbx } from '../helpers/render.ts';

const open = (threads: number) => openRenderingPbx(threads);
const get = (fileName: string) => lanGet(fileName);
const countJobs = countRenderJobs;

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
  // A shared context with only the model, and no line: the template names variables it lacks.
  const shared = { model: { id: 'T46S', lines: 1 } } as unknown as CommonContext;
  const own = { credential: { username: 'u', password: 'p' } } as unknown as DeviceOwnContext;
  await assert.rejects(pbx.files.threads!.render({ spec: tpl.spec, file: tpl.file, generation: pbx.templates.generation, shared, own }), (err: Error) => {
    assert.ok(err instanceof RenderError, String(err));
    assert.match(err.message, /undefined variable/);
    return true;
  });
  await pbx.close();
});

test('the context a model’s phones share goes to a thread once; after 256 of them both sides start anew, and every file stays right', async () => {
  const dir = tempDir();
  const file = join(dir, 'probe.liquid');
  writeFileSync(file, '{{ server.name }} {{ model.id }} {{ mac }} {{ provisioning.username }}');
  const threads = new RenderThreads(1, () => undefined);
  // What the main thread posts to the worker (the worker exists once the threads start).
  threads.start();
  const worker = (threads as unknown as { threads: { worker: { postMessage(job: RenderJob): void } }[] }).threads[0]!.worker;
  const posted: RenderJob[] = [];
  const post = worker.postMessage.bind(worker);
  worker.postMessage = (job: RenderJob) => (posted.push(job), post(job));
  const sharedOf = (i: number) => ({ server: { name: `site${i}` }, model: { id: 'T46S', lines: 1 }, provisioning: {} }) as unknown as CommonContext;
  const own = (i: number) => ({ credential: { username: `u${i}`, password: 'p' }, mac: `mac${i}` }) as unknown as DeviceOwnContext;
  const contexts = Array.from({ length: 300 }, (_, i) => sharedOf(i));
  const render = (i: number, device: number) => threads.render({ spec: { roots: [dir], xml: false }, file, generation: 0, shared: contexts[i]!, own: own(device) });

  // The first job for context 0 fails on its template: the thread keeps the context all the same.
  const broken = join(dir, 'broken.liquid');
  writeFileSync(broken, '{% if %}');
  await assert.rejects(threads.render({ spec: { roots: [dir], xml: false }, file: broken, generation: 0, shared: contexts[0]!, own: own(0) }), RenderError);
  assert.equal((await render(0, 1)).body, 'site0 T46S mac1 u1');
  assert.equal((await render(0, 2)).body, 'site0 T46S mac2 u2', 'the second phone of a model: its own part with the kept shared context');
  assert.ok(posted[0]!.shared, 'the first job carries the shared context');
  assert.equal(posted[1]!.shared, undefined, 'the next ones name it only');
  assert.equal(posted[2]!.shared, undefined);
  assert.equal(posted[2]!.sharedId, posted[0]!.sharedId);

  const bodies = await Promise.all(contexts.map((_, i) => render(i, i)));
  bodies.forEach((b, i) => assert.equal(b.body, `site${i} T46S mac${i} u${i}`));
  const forgot = posted.findIndex((j) => j.forget);
  assert.ok(forgot > 0, 'the thread was told to forget once it kept 256');
  assert.ok(posted[forgot]!.shared, 'a job that makes it forget carries its own shared context');
  // Context 0 was forgotten: it is sent again, and the file is still right.
  assert.equal((await render(0, 7)).body, 'site0 T46S mac7 u7');
  assert.ok(posted.at(-1)!.shared);
  await threads.close();
});
