// After a change that alters every phone's file (here: the extension they all share), each
// phone's sync state needs its file made again. The admin views that show sync states over
// all phones (the doctor, the dashboard, a resync of the stale ones) made them one after
// another on the event loop: at a big site that held SIP still for seconds. They now walk
// the phones paced (util/paced.ts): renders on the render threads when there are any (none
// here: the inline worst case), and the loop given back between slices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { inProcess, type InProcess } from '../helpers/in-process.ts';

const PHONES = 1500;
let it: InProcess;
let token: string;

before(async () => {
  // No resync after each change (the test changes every file on purpose); a resync of all goes out at once.
  // No render thread: files are made on the event loop, the worst case for pacing.
  it = await inProcess('server:\n  external_ip: 192.168.1.14\nprovisioning:\n  render_threads: 0\n  auto_resync: false\n  resync_batch_size: 10000\n  resync_batch_spread_ms: 0\n');
  token = (await it.pbx.tokens.create('admin')).token;
  await it.pbx.extensions.create({ number: '1001', name: 'Front desk' });
  // Extensions an admin let keep a weak password (a migration): the doctor names them too.
  for (let n = 2000; n < 2030; n++) await it.pbx.extensions.create({ number: String(n), name: `Old ${n}`, password: `${n}${n}`, allow_weak_password: true });
  const at = new Date().toISOString();
  for (let i = 0; i < PHONES; i++) {
    const mac = `001565${i.toString(16).padStart(6, '0')}`;
    await it.pbx.devices.create({ mac_address: mac, extension_number: '1001', vendor: 'yealink', model: 'T46S' });
    // Each phone fetched its file once; every file has changed since.
    it.pbx.devices.recordFetch(mac, { at, ip: '192.168.1.50', userAgent: 'Yealink SIP-T46S 66.86.0.15', servedUrl: '/x', port: 8080, legacy: false, accountHash: 'a file from before the change' });
  }
  // The template is read and compiled once per process, on the first file made from it (not what is measured here).
  it.pbx.files.renderDeviceFile(it.pbx.devices.get('001565000000')!);
  // So is the HTTP app (its routes' schemas), on its first request.
  await it.app.ready();
});
after(() => it.close());

/** The time this thread has run on a CPU (ms; Linux schedstat), or null where there is no such file. */
function threadRunMs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}

/**
 * Runs `work` and returns its result with the longest the event loop held the CPU between two
 * turns (ticks of a 2 ms timer). What counts is the time this thread ran in between, not the
 * wall time: with the suite's other tests on both cores the OS sets this process aside now
 * and then, for as long as it likes, which no pacing can prevent (the wall time is the measure
 * where there is no schedstat).
 */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number; tookMs: number }> {
  const clock = threadRunMs() === null ? () => performance.now() : () => threadRunMs()!;
  let last = clock();
  let stallMs = 0;
  const tick = setInterval(() => {
    const now = clock();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 2);
  const started = performance.now();
  try {
    const result = await work();
    const tookMs = performance.now() - started;
    stallMs = Math.max(stallMs, clock() - last);
    return { result, stallMs, tookMs };
  } finally {
    clearInterval(tick);
  }
}

/** A change to the extension all the phones share: every phone's file is to be made again. */
let renames = 0;
const changeEveryFile = () => it.pbx.extensions.update('1001', { name: `Front desk ${++renames}` });

const get = (url: string) => it.app.inject({ url, headers: { authorization: `Bearer ${token}` } });

test('the doctor names the stale phones and weak extensions (twenty of each, then how many more) without holding the event loop', async () => {
  await changeEveryFile();
  const { result: res, stallMs, tookMs } = await longestStall(() => get('/api/doctor'));
  assert.equal(res.statusCode, 200);
  const stale = (res.json() as { findings: { check: string; message: string }[] }).findings.find((f) => f.check === 'devices-stale');
  assert.ok(stale, 'a finding for the stale phones');
  assert.match(stale.message, new RegExp(`^${PHONES} device\\(s\\) have not fetched their changed file: 001565000000, 001565000001, `));
  assert.match(stale.message, new RegExp(`and ${PHONES - 20} more \\(pbx device list\\)$`));
  const weak = (res.json() as { findings: { check: string; message: string }[] }).findings.find((f) => f.check === 'weak-secrets');
  assert.equal(weak?.message, `30 extension(s) with weak SIP secrets: ${Array.from({ length: 20 }, (_, i) => 2000 + i).join(', ')} and 10 more (pbx ext list)`);
  assert.ok(stallMs < 150, `the loop ran ${stallMs.toFixed(0)} ms without a turn while ${PHONES} files were made (${tookMs.toFixed(0)} ms in all)`);
});

test('the dashboard counts sync states without holding the event loop', async () => {
  await changeEveryFile();
  const { result: res, stallMs, tookMs } = await longestStall(() => get('/api/dashboard'));
  assert.equal(res.statusCode, 200);
  assert.deepEqual((res.json() as { sync: Record<string, number> }).sync, { stale: PHONES });
  assert.ok(stallMs < 150, `the loop ran ${stallMs.toFixed(0)} ms without a turn (${tookMs.toFixed(0)} ms in all)`);
});

test('a resync of the stale phones picks them without holding the event loop; the device list shows their state', async () => {
  await changeEveryFile();
  const { result: res, stallMs, tookMs } = await longestStall(() =>
    it.app.inject({ method: 'POST', url: '/api/provisioning/resync', headers: { authorization: `Bearer ${token}` }, payload: { sync_state: 'stale' } }),
  );
  assert.equal(res.statusCode, 202);
  assert.equal((res.json() as { queued: number }).queued, PHONES);
  assert.ok(stallMs < 150, `the loop ran ${stallMs.toFixed(0)} ms without a turn (${tookMs.toFixed(0)} ms in all)`);

  const list = await get('/api/provisioning/devices?limit=3');
  assert.deepEqual(
    (list.json() as { devices: { sync_state: string }[] }).devices.map((d) => d.sync_state),
    ['stale', 'stale', 'stale'],
  );
  const one = await get('/api/provisioning/devices/001565000000');
  assert.equal((one.json() as { sync_state: string }).sync_state, 'stale');
});
