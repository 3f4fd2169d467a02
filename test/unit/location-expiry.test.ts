// Bindings expire on time although the location service sweeps only once the earliest
// expiry it knows of has passed: one added after a sweep, sooner than everything else,
// still goes when its time is up, and a refreshed binding does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../../src/storage/database.ts';
import { WriteBehind } from '../../src/storage/write-behind.ts';
import { Location, type Binding } from '../../src/pbx/location.ts';
import { tempDir } from '../helpers/server.ts';

function binding(aor: string, expiresIn: number): Binding {
  const now = Date.now();
  return {
    aor, contact: `sip:${aor}@10.0.0.9`, contactParams: '', expiresAt: now + expiresIn, transport: 'udp', sourceAddress: '10.0.0.9', sourcePort: 5060,
    flowId: 'udp:10.0.0.9:5060', userAgent: null, callId: `c-${aor}`, cseq: 1, q: null, instance: null, regId: null, path: null, registeredAt: now, behindNat: false,
  };
}

for (const thread of [false, true]) test(`expiry: the earliest binding goes on time, a sooner one added later too, refreshed and long ones stay (written ${thread ? 'on the writer thread' : 'in the write-behind transaction'})`, async () => {
  const database = await openDatabase({ type: 'sqlite', path: join(tempDir(), 'pbx.db'), url: '' });
  const wb = new WriteBehind(database.db, 20, (e) => assert.fail(e), thread ? database.writeOffThread : undefined);
  const location = new Location(database.db, wb, 'pbx1');
  const expired: [string, number][] = [];
  location.onChange((event, b) => {
    if (event === 'expired') expired.push([b.aor, Date.now() - b.expiresAt]);
  });
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await location.load();
    location.replace('1001', [binding('1001', 60_000)], []);
    location.replace('1002', [binding('1002', 300)], []);
    location.replace('1003', [binding('1003', 300)], []);
    location.startExpiry(20);
    await wait(100);
    location.replace('1003', [binding('1003', 60_000)], []); // refreshed before its time
    await wait(400);
    assert.deepEqual(expired.map(([aor]) => aor), ['1002']);
    // After that sweep the earliest known expiry is a minute away; this one is due sooner.
    location.replace('1004', [binding('1004', 200)], []);
    await wait(500);
    assert.deepEqual(expired.map(([aor]) => aor), ['1002', '1004']);
    for (const [aor, late] of expired) assert.ok(late < 150, `${aor} expired ${late} ms late`);
    assert.equal(location.isRegistered('1001'), true);
    assert.equal(location.isRegistered('1003'), true);
    assert.equal(location.count, 2);
    await wb.flush();
    const rows = await database.db.selectFrom('registrations').select('aor').orderBy('aor').execute();
    assert.deepEqual(rows.map((r) => r.aor), ['1001', '1003'], 'the expired ones are gone from the database too');
  } finally {
    location.stop();
    await wb.flush();
    await database.close();
  }
});
