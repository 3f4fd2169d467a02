// Another process (the CLI, a second node) changes one extension: the server reloads, and
// only the files of the phones that extension is on are made again. Every other phone's
// rendered file stays: after a full drop, a busy site (a boot storm) rendered thousands of
// files again, and the auto-resync check rendered every provisioned phone's on the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/server.ts';

test('a reload after another process changed one extension re-renders only its phones’ files', async () => {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  const loaded = { file, config: parseConfigText('server:\n  external_ip: 192.168.1.14\ndatabase:\n  path: data/pbx.db\nprovisioning:\n  render_threads: 0\n', file) };
  const server = await createPbx(loaded, createLogger('silent'), { serve: true });
  try {
    const yealink = server.vendors.get('yealink')!;
    const tpl = server.templates.get(yealink, 'T46S', 'mac.cfg.liquid')!;
    const rendered: string[] = [];
    const renderSync = tpl.engine.renderSync.bind(tpl.engine);
    tpl.engine.renderSync = ((parsed, ctx, opts) => {
      if (parsed === tpl.parsed) rendered.push((ctx as { mac_lower: string }).mac_lower);
      return renderSync(parsed, ctx, opts);
    }) as typeof tpl.engine.renderSync;
    for (const [n, mac] of [['1001', '001565000031'], ['1002', '001565000032'], ['1003', '001565000033']] as const) {
      await server.extensions.create({ number: n, name: `Desk ${n}` });
      await server.devices.create({ mac_address: mac, extension_number: n, vendor: 'yealink', model: 'T46S' });
      assert.equal(server.files.renderDeviceFile(server.devices.get(mac)!).status, 200);
    }
    assert.deepEqual(rendered, ['001565000031', '001565000032', '001565000033']);
    // Our own changes, made while nothing else writes: never a reload.
    await server.extensions.update('1003', { name: 'Desk three' });
    assert.match(server.files.renderDeviceFile(server.devices.get('001565000033')!).body!, /display_name = Desk three/);
    rendered.length = 0;

    const other = await createPbx(loaded, createLogger('silent'));
    await other.extensions.update('1001', { name: 'Reception' });
    await other.close();
    const deadline = Date.now() + 5000;
    while (server.extensions.get('1001')!.name !== 'Reception' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.extensions.get('1001')!.name, 'Reception', 'the other process’s change was reloaded');

    for (const mac of ['001565000031', '001565000032', '001565000033']) server.files.renderDeviceFile(server.devices.get(mac)!);
    assert.deepEqual(rendered, ['001565000031'], 'only the changed extension’s phone got its file made again');
    assert.match(server.files.renderDeviceFile(server.devices.get('001565000031')!).body!, /display_name = Reception/);
  } finally {
    await server.close();
  }
});
