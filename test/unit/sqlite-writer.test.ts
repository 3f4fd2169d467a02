// The SQLite writer thread: a batch is one transaction (all of it or none), a failed one
// says why and the thread goes on, and close() lets what was sent finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { SqliteWriter, type WriterRequest } from '../../src/storage/sqlite-writer.ts';
import { tempDir } from '../helpers/server.ts';

/** A database with one table, its main connection (WAL, as the pbx opens it) and a writer thread. */
function open(): { main: SqliteDatabase.Database; writer: SqliteWriter } {
  const path = join(tempDir(), 'w.db');
  const main = new SqliteDatabase(path);
  main.pragma('journal_mode = WAL');
  main.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  return { main, writer: new SqliteWriter(path) };
}

test('a batch commits whole or not at all; a failure is named; close waits for what was sent', async () => {
  const { main, writer } = open();
  const insert = 'INSERT INTO t (k, v) VALUES (?, ?)';
  try {
    await writer.run([{ sql: insert, runs: [['a', 1], ['b', 2]] }]);
    assert.deepEqual(main.prepare('SELECT k, v FROM t ORDER BY k').all(), [{ k: 'a', v: 1 }, { k: 'b', v: 2 }]);
    // The second run breaks the primary key: the first run of the batch is undone with it.
    await assert.rejects(writer.run([{ sql: insert, runs: [['c', 3], ['a', 4]] }]), /UNIQUE constraint failed: t\.k/);
    assert.equal(main.prepare('SELECT count(*) FROM t').pluck().get(), 2);
    await assert.rejects(writer.run([{ sql: 'INSERT INTO nowhere VALUES (?)', runs: [[1]] }]), /no such table: nowhere/);
    // The main connection holds the write lock for a moment: the thread waits, the loop does not.
    main.exec('BEGIN IMMEDIATE');
    const waiting = writer.run([{ sql: insert, runs: [['d', 5]] }]);
    await new Promise((r) => setTimeout(r, 100));
    main.exec('COMMIT');
    await waiting;
    const last = writer.run([{ sql: insert, runs: Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]) }]);
    await writer.close();
    await last;
    assert.equal(main.prepare('SELECT count(*) FROM t').pluck().get(), 1003);
  } finally {
    await writer.close();
    main.close();
  }
});

test('a statement’s text goes to the thread once, then its number; a new thread or 1,000 texts start anew', async () => {
  const { main, writer } = open();
  const internals = writer as unknown as { worker: { postMessage(m: WriterRequest): void; terminate(): Promise<number> } | null };
  const posted: WriterRequest[] = [];
  const spy = () => {
    const w = internals.worker!;
    const post = w.postMessage.bind(w);
    w.postMessage = (m: WriterRequest) => (posted.push(m), post(m));
  };
  const insert = 'INSERT INTO t (k, v) VALUES (?, ?)';
  try {
    await writer.run([{ sql: insert, runs: [['a', 1]] }]);
    spy();
    await writer.run([{ sql: insert, runs: [['b', 2]] }, { sql: 'UPDATE t SET v = ? WHERE k = ?', runs: [[20, 'b']] }]);
    assert.equal(posted[0]!.texts?.length, 1, 'only the new text is sent');
    assert.equal(posted[0]!.texts![0]![1], 'UPDATE t SET v = ? WHERE k = ?');
    assert.deepEqual(main.prepare('SELECT k, v FROM t ORDER BY k').all(), [{ k: 'a', v: 1 }, { k: 'b', v: 20 }]);

    // The thread is lost: the next one is sent every text again.
    await internals.worker!.terminate();
    await writer.run([{ sql: insert, runs: [['c', 3]] }]);
    assert.equal(main.prepare('SELECT v FROM t WHERE k = ?').pluck().get('c'), 3);

    // 1,000 texts kept: the next batch makes both sides forget them and still runs.
    spy();
    posted.length = 0;
    await writer.run(Array.from({ length: 1000 }, (_, i) => ({ sql: `${insert} -- ${i}`, runs: [[`m${i}`, i]] })));
    await writer.run([{ sql: insert, runs: [['d', 4]] }]);
    assert.equal(posted[1]!.forget, true);
    assert.deepEqual(posted[1]!.texts?.map(([, sql]) => sql), [insert]);
    assert.equal(main.prepare('SELECT count(*) FROM t').pluck().get(), 1004);
  } finally {
    await writer.close();
    main.close();
  }
});
