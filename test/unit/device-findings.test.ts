// The dashboard finds every phone's sync state once (at 100,000 phones that may render
// files) and gives the states to both its counts and its problem list; the checks must use
// the states they are given and not walk the phones again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceFindings, type CheckSources } from '../../src/diagnostics/checks.ts';
import type { Device } from '../../src/provisioning/devices.ts';
import type { SyncState } from '../../src/provisioning/resync.ts';

const device = (i: number) => ({ mac: `001565${String(i).padStart(6, '0')}`, lines: [String(1000 + i)] }) as unknown as Device;
const devices = Array.from({ length: 30 }, (_, i) => device(i));
const stateOf = (i: number): SyncState => (i < 25 ? 'stale' : 'in sync');

function sources(walks: { n: number }): CheckSources {
  return {
    config: () => { throw new Error('not read by deviceFindings'); },
    devices: () => devices,
    syncStates: async (list) => {
      walks.n++;
      return list.map((_, i) => stateOf(i));
    },
    extensions: () => [],
  };
}

test('device findings walk the phones themselves when no states are given', async () => {
  const walks = { n: 0 };
  const found = await deviceFindings(sources(walks));
  assert.equal(walks.n, 1);
  const stale = found.find((f) => f.check === 'devices-stale');
  assert.ok(stale, JSON.stringify(found));
  assert.match(stale.message, /^25 device\(s\) have not fetched their changed file: 001565000000, .* and 5 more \(pbx device list\)$/);
});

test('device findings use the states they are given and do not walk again', async () => {
  const walks = { n: 0 };
  const states = devices.map((_, i): SyncState => (i === 3 ? 'never provisioned' : 'in sync'));
  const found = await deviceFindings(sources(walks), { devices, states });
  assert.equal(walks.n, 0);
  assert.deepEqual(found.map((f) => [f.check, f.ok]), [['devices-never', false]]);
  assert.match(found[0]!.message, /^1 device\(s\) never fetched their file: 001565000003$/);
});
