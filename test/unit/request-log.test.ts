// The provisioning request log keeps at most provisioning.request_log_max_entries rows,
// the newest. On SQLite the pruning runs with the rows' own batch on the writer thread:
// a DELETE of a few hundred rows on the event loop's connection held the loop 5–13 ms
// every few hundred requests. Real SQLite file, real writer thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { openDatabase } from '../../src/storage/database.ts';
import type { Tables } from '../../src/storage/tables.ts';
import { WriteBehind } from '../../src/storage/write-behind.ts';
import { RequestLog, type RequestLogEntry } from '../../src/provisioning/request-log.ts';
import { tempDir } from '../helpers/server.ts';

const entry = (n: number): RequestLogEntry => ({
  at: new Date(Date.UTC(2026, 11, 6, 12, 0, 0, n)).toISOString(),
  ip: '10.0.0.9',
  method: 'GET',
  path: `/provision/${n}.cfg`,
  mac: null,
  user_agent: null,
  status: 404,
  outcome: 'unknown_device',
  vendor: null,
  model: null,
  detail: null,
});

test('the log keeps the newest max entries, pruned off the event loop connection', async () => {
  const path = join(tempDir(), 'pbx.db');
  const opened = await openDatabase({ type: 'sqlite', path, url: '' });
  // The request log's own connection records what runs on it (the event loop's side).
  const ran: string[] = [];
  const loopSide = new Kysely<Tables>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }), log: (e) => void ran.push(e.query.sql) });
  const writeBehind = new WriteBehind(opened.db, 60_000, (err) => assert.fail(err), opened.writeOffThread);
  const log = new RequestLog(loopSide, writeBehind, () => 100);
  try {
    for (let n = 1; n <= 1000; n++) {
      log.add(entry(n));
      if (n % 50 === 0) await writeBehind.flush();
    }
    await writeBehind.flush();
    const left = await opened.db.selectFrom('provisioning_requests').select(['path']).orderBy('id').execute();
    assert.ok(left.length >= 100 && left.length < 200, `${left.length} rows kept, max 100 (pruned every 100)`);
    assert.equal(left.at(-1)!.path, '/provision/1000.cfg', 'the newest is kept');
    assert.equal(left[0]!.path, `/provision/${1001 - left.length}.cfg`, 'only the oldest went');
    assert.deepEqual(ran.filter((s) => /^delete/i.test(s)), [], 'a DELETE ran on the event loop connection');
  } finally {
    await loopSide.destroy();
    await opened.close();
  }
});
