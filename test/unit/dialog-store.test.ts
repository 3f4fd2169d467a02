// The proxy's dialogs are written behind (a restart keeps the calls in progress), but a
// short call saved and ended within one batch never reaches the database; a dialog whose
// row exists (written, or loaded after a restart) is deleted when it ends, also when its
// save was taken by a batch still running. Real SQLite file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../../src/storage/database.ts';
import { WriteBehind } from '../../src/storage/write-behind.ts';
import { DialogStore } from '../../src/pbx/dialog-store.ts';
import type { ProxyDialog } from '../../src/pbx/dialog-table.ts';
import { tempDir } from '../helpers/server.ts';

const peer = { transport: 'udp', address: '127.0.0.1', port: 5062, flowId: 'f1' };
const dialog = (n: number): ProxyDialog => ({ callId: `call-${n}`, callerTag: `a${n}`, calleeTag: `b${n}`, caller: peer, callee: peer, call: null, lastActivity: Date.now() });

async function setup() {
  const opened = await openDatabase({ type: 'sqlite', path: join(tempDir(), 'pbx.db'), url: '' });
  // As the server runs it: the dialogs' statements go to the SQLite writer thread.
  const writeBehind = new WriteBehind(opened.db, 60_000, (err) => assert.fail(err), opened.writeOffThread);
  const rows = async () => (await opened.db.selectFrom('dialogs').select('call_id').execute()).map((r) => r.call_id).sort();
  return { opened, writeBehind, store: new DialogStore(opened.db, writeBehind), rows };
}

test('a dialog saved and ended within one batch writes nothing; one written is deleted when it ends', async () => {
  const { opened, writeBehind, store, rows } = await setup();
  store.save(dialog(1));
  store.remove(dialog(1));
  store.save(dialog(2));
  await writeBehind.flush();
  assert.deepEqual(await rows(), ['call-2']);
  store.save(dialog(2)); // an update (answered) pending while the row exists
  store.remove(dialog(2));
  await writeBehind.flush();
  assert.deepEqual(await rows(), []);
  await opened.close();
});

test('ended while the batch holding its save is being written: the delete follows', async () => {
  const { opened, writeBehind, store, rows } = await setup();
  store.save(dialog(3));
  const running = writeBehind.flush();
  // The batch has taken its writes, and is still opening its transaction.
  await Promise.resolve();
  await Promise.resolve();
  store.remove(dialog(3));
  await running;
  await writeBehind.flush();
  assert.deepEqual(await rows(), []);
  await opened.close();
});

test('a dialog loaded after a restart is deleted when it ends', async () => {
  const { opened, writeBehind, store, rows } = await setup();
  store.save(dialog(4));
  await writeBehind.flush();
  const restarted = new DialogStore(opened.db, writeBehind);
  const [loaded] = await restarted.load();
  assert.equal(loaded?.callId, 'call-4');
  restarted.remove(loaded!);
  await writeBehind.flush();
  assert.deepEqual(await rows(), []);
  await opened.close();
});
