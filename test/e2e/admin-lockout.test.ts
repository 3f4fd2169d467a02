// The admin lockout holds against parallel guesses: every attempt is counted before its
// password is checked, so ten logins at once (nine wrong, one right) check at most
// five passwords, lock the account, and the right one does not get in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

let server: RunningServer | undefined;
after(async () => {
  await server?.stop();
});

test('ten concurrent logins, nine wrong and one right: the lockout holds', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const password = 'correct-horse-battery-9';
  const made = await runCli(['admin', 'create', 'ops', '--password', password, '--config', file]);
  assert.equal(made.code, 0, made.stderr);
  server = await RunningServer.start(file, port);

  const login = (pw: string) =>
    fetch(`${server!.base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password: pw }) }).then(
      async (r) => ({ status: r.status, body: await r.text() }),
    );
  const guesses = Array.from({ length: 10 }, (_, i) => (i === 6 ? password : `wrong-guess-${i}-xx`));
  const answers = await Promise.all(guesses.map(login));
  const right = answers[6]!;
  const statuses = answers.map((a) => a.status);
  assert.notEqual(right.status, 200, `the right password got in among parallel guesses: ${statuses}`);
  assert.ok(statuses.filter((s) => s === 401).length <= 5, `at most five passwords were checked: ${statuses}`);
  assert.ok(statuses.filter((s) => s === 423).length >= 5, `the rest were refused as locked: ${statuses}`);
  const db = new Database(join(dir, 'data/pbx.db'), { readonly: true });
  const row = db.prepare('SELECT locked_until, last_login_at FROM admins WHERE username = ?').get('ops') as { locked_until: string | null; last_login_at: string | null };
  db.close();
  assert.ok(row.locked_until && Date.parse(row.locked_until) > Date.now(), `the account is locked: ${JSON.stringify(row)}`);
  assert.equal(row.last_login_at, null, 'nobody logged in');
});
