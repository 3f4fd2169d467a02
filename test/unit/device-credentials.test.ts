// A device's provisioning credential: generated strong, sealed at rest, and given to
// devices that were added before credentials existed (with the first-fetch window open,
// so their phones can fetch the file that hands it over).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/server.ts';

async function open(dir: string) {
  const file = join(dir, 'config.yml');
  const config = parseConfigText('server:\n  external_ip: 192.168.1.14\ndatabase:\n  path: data/pbx.db\n', file);
  return createPbx({ file, config }, createLogger('silent'));
}

test('credentials are generated, sealed, refused when weak, and survive a restart', async () => {
  const dir = tempDir();
  let pbx = await open(dir);
  await pbx.extensions.create({ number: '1001' });
  const d = await pbx.devices.create({ mac_address: '00:15:65:00:00:01', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  assert.equal(d.credential.user, '001565000001');
  assert.match(d.credential.password, /^[A-Za-z0-9]{20}$/);
  const row = await pbx.database.db.selectFrom('devices').select(['prov_secret_enc']).where('mac', '=', d.mac).executeTakeFirstOrThrow();
  assert.ok(row.prov_secret_enc && !row.prov_secret_enc.includes(d.credential.password), 'sealed in the database');
  await assert.rejects(pbx.devices.update(d.mac, { provisioning_password: 'aaaaaaaaaaaaaa' }), /provisioning_password/);
  await assert.rejects(pbx.devices.update(d.mac, { provisioning_password: 'has space in it!' }), /provisioning_password/);
  const password = d.credential.password;
  const { statSync, readdirSync } = await import('node:fs');
  for (const f of readdirSync(join(dir, 'data')).filter((n) => n.startsWith('pbx.db'))) {
    assert.equal(statSync(join(dir, 'data', f)).mode & 0o777, 0o600, `${f} is readable by the server's user only`);
  }
  await pbx.close();
  pbx = await open(dir);
  assert.equal(pbx.devices.get(d.mac)!.credential.password, password, 'opened again after a restart');
  await pbx.close();
});

test('a device stored before credentials existed gets one at start, with its window open', async () => {
  const dir = tempDir();
  let pbx = await open(dir);
  await pbx.extensions.create({ number: '1001' });
  await pbx.devices.create({ mac_address: '001565000002', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  // What a database from before migration 0006 looks like after it: no credential, no window.
  await pbx.database.db.updateTable('devices').set({ prov_user: null, prov_secret_enc: null, window_opened_at: null }).execute();
  await pbx.close();
  pbx = await open(dir);
  const d = pbx.devices.get('001565000002')!;
  assert.match(d.credential.password, /^[A-Za-z0-9]{20}$/);
  assert.ok(pbx.provisioningAuth.windowUntil(d), 'window open so the phone can fetch the credential');
  assert.match(pbx.files.renderDeviceFile(d).body!, new RegExp(`static\\.auto_provision\\.server\\.password = ${d.credential.password}`));
  const row = await pbx.database.db.selectFrom('devices').select(['prov_secret_enc']).where('mac', '=', d.mac).executeTakeFirstOrThrow();
  assert.ok(row.prov_secret_enc, 'stored');
  await pbx.close();
});

test('the first-fetch window closes soon after the phone first used it', async () => {
  const dir = tempDir();
  const pbx = await open(dir);
  await pbx.extensions.create({ number: '1001' });
  const d = await pbx.devices.create({ mac_address: '001565000003', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const opened = Date.parse(pbx.provisioningAuth.windowUntil(d)!);
  assert.ok(Math.abs(opened - (Date.now() + 30 * 60_000)) < 5000, 'open for first_fetch_minutes (30) after being added');
  pbx.devices.recordWindowUse(d.mac);
  const used = Date.parse(pbx.provisioningAuth.windowUntil(pbx.devices.get(d.mac)!)!);
  assert.ok(Math.abs(used - (Date.now() + 10 * 60_000)) < 5000, 'then only 10 more minutes');
  // A first use 11 minutes ago: closed, though first_fetch_minutes has not passed.
  await pbx.devices.update(d.mac, { open_first_fetch_window: true });
  pbx.devices.recordWindowUse(d.mac, new Date(Date.now() - 11 * 60_000).toISOString());
  assert.equal(pbx.provisioningAuth.windowUntil(pbx.devices.get(d.mac)!), null);
  // Reopening starts afresh, and the use is stored (it survives a restart).
  await pbx.writeBehind.flush();
  const row = await pbx.database.db.selectFrom('devices').select(['window_used_at']).where('mac', '=', d.mac).executeTakeFirstOrThrow();
  assert.ok(row.window_used_at);
  await pbx.devices.update(d.mac, { open_first_fetch_window: true });
  assert.ok(pbx.provisioningAuth.windowUntil(pbx.devices.get(d.mac)!));
  await pbx.close();
});

test('what a device’s fetches, authentication, window use and resync record is stored, each value in its own column', async () => {
  const dir = tempDir();
  let pbx = await open(dir);
  await pbx.extensions.create({ number: '1001' });
  const d = await pbx.devices.create({ mac_address: '001565000004', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const other = await pbx.devices.create({ mac_address: '001565000005', extension_number: '1001', vendor: 'yealink', model: 'T46S' });
  const at = (s: number) => new Date(Date.UTC(2026, 11, 5, 10, 0, s)).toISOString();
  pbx.devices.recordWindowUse(d.mac, at(1));
  pbx.devices.recordFetch(d.mac, { ip: '192.0.2.7', userAgent: 'Yealink SIP-T46S 66.86.0.15', servedUrl: 'http://192.168.1.14:8080/provision/001565000004.cfg', at: at(2), port: 8080, legacy: true, accountHash: 'abc123' });
  pbx.devices.recordAuthenticated(d.mac, at(3));
  pbx.devices.recordResync(d.mac, at(4));
  // The same statements for another device in the same batch: each keeps its own values.
  pbx.devices.recordFetch(other.mac, { ip: '192.0.2.8', userAgent: null, servedUrl: 'http://192.168.1.14:8080/provision/001565000005.cfg', at: at(5), port: 8081, legacy: false, accountHash: null });
  pbx.devices.recordAuthenticated(other.mac, at(6));
  await pbx.close();
  pbx = await open(dir);
  const rows = await pbx.database.db
    .selectFrom('devices')
    .select(['mac', 'window_used_at', 'last_provisioned', 'last_ip', 'last_user_agent', 'last_served_url', 'last_fetch_port', 'last_fetch_legacy', 'last_fetch_hash', 'prov_authenticated_at', 'window_opened_at', 'resync_sent_at'])
    .orderBy('mac')
    .execute();
  assert.deepEqual(rows, [
    {
      mac: d.mac,
      window_used_at: at(1),
      last_provisioned: at(2),
      last_ip: '192.0.2.7',
      last_user_agent: 'Yealink SIP-T46S 66.86.0.15',
      last_served_url: 'http://192.168.1.14:8080/provision/001565000004.cfg',
      last_fetch_port: 8080,
      last_fetch_legacy: 1,
      last_fetch_hash: 'abc123',
      prov_authenticated_at: at(3),
      window_opened_at: null,
      resync_sent_at: at(4),
    },
    {
      mac: other.mac,
      window_used_at: null,
      last_provisioned: at(5),
      last_ip: '192.0.2.8',
      last_user_agent: null,
      last_served_url: 'http://192.168.1.14:8080/provision/001565000005.cfg',
      last_fetch_port: 8081,
      last_fetch_legacy: 0,
      last_fetch_hash: null,
      prov_authenticated_at: at(6),
      window_opened_at: null,
      resync_sent_at: null,
    },
  ]);
  await pbx.close();
});
