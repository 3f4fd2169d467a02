// The dashboard's walk over every phone gives the event loop back between slices, so a
// site with 100,000 phones does not hold SIP still while an admin looks at it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { summarizeDevices } from '../../src/api/device-summary.ts';
import type { Device } from '../../src/provisioning/devices.ts';

const device = (i: number) => ({ mac: `001565${String(i).padStart(6, '0')}`, lines: [String(1000 + i)] }) as unknown as Device;

test('counts phones, registered ones and sync states, and other work runs while it counts', async () => {
  const devices = Array.from({ length: 1000 }, (_, i) => device(i));
  let turns = 0;
  let counting = true;
  const other = () => {
    turns++;
    if (counting) setImmediate(other);
  };
  setImmediate(other);
  // A sync state that costs 0.2 ms (a file rendered inline): 200 ms of work in all.
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  const summary = await summarizeDevices(
    devices,
    (ext) => Number(ext) % 2 === 0,
    (d) => {
      busy(0.2);
      return d.mac.endsWith('0') ? 'in sync' : 'stale';
    },
  );
  counting = false;
  assert.deepEqual(summary, { devices: 1000, registered: 500, sync: { 'in sync': 100, stale: 900 } });
  assert.ok(turns >= 8, `the loop turned ${turns} time(s) during 200 ms of counting`);
});

test('a phone without lines counts as not registered', async () => {
  const summary = await summarizeDevices([{ mac: '001565000001', lines: [] } as unknown as Device], () => true);
  assert.deepEqual(summary, { devices: 1, registered: 0, sync: {} });
});
