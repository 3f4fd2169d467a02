// Phone files prepared in the background (provisioning.prepare_files): after a restart, or a
// change that stales them, a phone that fetched before finds its files made (answered at
// once, no render), for the firmware it announced; a phone that never fetched is left alone;
// a change is in the prepared file; with the setting off nothing is made ahead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pbx } from '../../src/application.ts';
import type { Logger } from '../../src/log.ts';
import { FileWarmer } from '../../src/provisioning/file-warmer.ts';
import { tempDir } from '../helpers/server.ts';
import { countRenderJobs, lanGet, openRenderingPbx } from '../helpers/render.ts';

const UA = 'Yealink SIP-T46S 66.86.0.15';
const SEEN = '001565000031';
const NEW = '001565000032';

// No auto-resync: it renders changed phones' account files too, and here only the warmer may.
const open = (threads: number, prepare = true, dir?: string) => openRenderingPbx(threads, `  prepare_files: ${prepare}\n  auto_resync: false\n`, dir);
const get = (fileName: string) => lanGet(fileName, UA);
const countJobs = countRenderJobs;

async function until(what: string, done: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > end) assert.fail(`not within 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An extension and two phones; one of them has fetched its files (as before a restart). */
async function site(pbx: Pbx): Promise<void> {
  await pbx.extensions.create({ number: '1001', name: 'Front desk' });
  await pbx.extensions.create({ number: '1002', name: 'Back office' });
  await pbx.devices.create({ mac_address: SEEN, extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  await pbx.devices.create({ mac_address: NEW, extension_number: '1002', vendor: 'yealink', model: 'T46S' });
  const fetched = await pbx.provisioning.handle(get(`${SEEN}.cfg`));
  assert.equal(fetched.status, 200);
}

test('after a restart a phone that fetched before finds its boot files made; one that never fetched is left alone', async () => {
  const dir = tempDir();
  const first = await open(1, true, dir);
  await site(first);
  await first.close();

  const pbx = await open(1, true, dir);
  const jobs = countJobs(pbx);
  const seen = pbx.devices.get(SEEN)!;
  assert.equal(pbx.files.isPrepared(seen), false, 'a restarted server has no file made yet');
  pbx.fileWarmer.start();
  await until('the known phone’s files are made', () => pbx.files.isPrepared(seen) && pbx.fileWarmer.waiting === 0);
  assert.equal(jobs(), 2, 'its boot file and its account file, each rendered once');
  assert.equal(pbx.files.isPrepared(pbx.devices.get(NEW)!), false, 'a phone that never fetched has no known firmware: nothing is made for it');

  for (const name of [`${SEEN}.boot`, 'y000000000066.cfg', `${SEEN}.cfg`]) {
    const answer = pbx.provisioning.handle(get(name));
    assert.ok(!(answer instanceof Promise), `${name} is answered at once, from what was prepared`);
    assert.equal(answer.status, 200, name);
  }
  assert.match((pbx.provisioning.handle(get(`${SEEN}.cfg`)) as { body: string }).body, /account\.1\.user_name = 1001/);
  assert.equal(jobs(), 2, 'the boot fetched nothing that was not made already');
  const logged = await pbx.requestLog.list({ mac: SEEN });
  assert.equal(logged.length, 4, 'preparing is not a fetch: only the phone’s own requests are in the request log (one before the restart, three after)');
  await pbx.close();
});

test('a changed extension, device or configuration: the phone’s file is made again, with the change in it', async () => {
  const pbx = await open(1);
  await site(pbx);
  pbx.fileWarmer.start();
  const seen = () => pbx.devices.get(SEEN)!;
  await until('prepared at start', () => pbx.files.isPrepared(seen()) && pbx.fileWarmer.waiting === 0);
  const jobs = countJobs(pbx);

  await pbx.extensions.update('1001', { name: 'Reception' });
  await until('made again after the extension changed', () => pbx.files.isPrepared(seen()));
  const answer = pbx.provisioning.handle(get(`${SEEN}.cfg`));
  assert.ok(!(answer instanceof Promise), 'answered from the file made after the change');
  assert.match(answer.body!, /display_name = Reception/);

  await pbx.devices.update(SEEN, { label: 'Lobby' });
  await until('made again after the device changed', () => pbx.files.isPrepared(seen()));

  pbx.files.invalidateAll(); // what a configuration or template change does
  assert.equal(pbx.files.isPrepared(seen()), false);
  await until('made again after every file was forgotten', () => pbx.files.isPrepared(seen()));
  assert.ok(jobs() >= 3, `rendered again after each change (${jobs()} jobs)`);
  assert.equal(pbx.files.isPrepared(pbx.devices.get(NEW)!), false);
  await pbx.close();
});

test('without render threads the files are made on the event loop (paced), and the pass is logged when done', async () => {
  const pbx = await open(0);
  await site(pbx);
  for (let i = 0; i < 5; i++) {
    const mac = `0015650001${i}0`;
    await pbx.devices.create({ mac_address: mac, extension_number: '1001', vendor: 'yealink', model: 'T46S' });
    assert.equal((await pbx.provisioning.handle(get(`${mac}.cfg`))).status, 200);
  }
  pbx.files.invalidateAll();
  const lines: string[] = [];
  const log = { info: (msg: string) => lines.push(msg), debug: () => undefined } as unknown as Logger;
  const warmer = new FileWarmer(pbx.files, pbx.devices, log, () => true);
  warmer.start();
  await until('the pass logged', () => lines.length > 0);
  assert.match(lines[0]!, /^Phone files prepared for 6 phone\(s\) in \d+\.\d s, ready for their next boot$/);
  for (const d of pbx.devices.all()) assert.equal(pbx.files.isPrepared(d), d.mac !== NEW, d.mac);
  const answer = pbx.provisioning.handle(get(`${SEEN}.cfg`));
  assert.ok(!(answer instanceof Promise));
  assert.equal(answer.status, 200);
  warmer.stop();
  await pbx.close();
});

test('provisioning.prepare_files: false makes nothing ahead; files are made when asked', async () => {
  const pbx = await open(1, false);
  await site(pbx);
  pbx.files.invalidateAll();
  pbx.fileWarmer.start();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(pbx.files.isPrepared(pbx.devices.get(SEEN)!), false);
  const answer = pbx.provisioning.handle(get(`${SEEN}.cfg`));
  assert.ok(answer instanceof Promise, 'rendered when the phone asks');
  assert.equal((await answer).status, 200);
  await pbx.close();
});
