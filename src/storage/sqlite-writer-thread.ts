// The thread of SqliteWriter: its own connection to the database file, the same pragmas
// as the main one (sqlite-pragmas.ts), each batch in one transaction.
import { parentPort } from 'node:worker_threads';
import SqliteDatabase, { type Database, type Statement } from 'better-sqlite3';
import type { WriterReply, WriterRequest } from './sqlite-writer.js';
import { applySqlitePragmas } from './sqlite-pragmas.js';

const port = parentPort!;
let db: Database | null = null;
const statements = new Map<string, Statement>();
/** Statement texts by the number the main side gave them. */
const texts = new Map<number, string>();

function open(path: string): Database {
  if (db) return db;
  db = new SqliteDatabase(path);
  // The main connection may hold the write lock for a moment: wait for it here, on this thread.
  applySqlitePragmas(db, 10_000);
  return db;
}

port.on('message', (m: WriterRequest) => {
  let reply: WriterReply;
  if (m.forget) texts.clear();
  for (const [n, sql] of m.texts ?? []) texts.set(n, sql);
  try {
    const conn = open(m.path);
    conn.transaction(() => {
      for (const { text, runs } of m.batch) {
        const sql = texts.get(text);
        if (sql === undefined) throw new Error(`statement ${text} was never sent to the writer thread`);
        let stmt = statements.get(sql);
        if (!stmt) statements.set(sql, (stmt = conn.prepare(sql)));
        for (const params of runs) stmt.run(...(params as unknown[]));
      }
    })();
    reply = { id: m.id };
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message };
  }
  port.postMessage(reply);
});
