// The admin lockout holds against parallel guesses from another host (a network
// namespace): every attempt is counted before its password is checked, so ten logins at
// once (nine wrong, one right) check at most five passwords, lock the account, and the
// right one does not get in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Netns } from '../helpers/netns.ts';
import { freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

let server: RunningServer | undefined;
const netns = new Netns('adm');
after(async () => {
  await server?.stop();
  netns.close();
});

/** A login sent with curl from inside the namespace; resolves with the HTTP status. */
function loginFromNetns(url: string, username: string, password: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    execFile(
      'ip',
      ['netns', 'exec', netns.name, 'curl', '-s', '-m', '20', '-w', '\n%{http_code}', '-H', 'content-type: application/json', '-d', JSON.stringify({ username, password }), url],
      (err, stdout) => {
        if (err) return fail(err);
        const lines = stdout.trimEnd().split('\n');
        ok({ status: Number(lines.pop()), body: lines.join('\n') });
      },
    );
  });
}

test('ten concurrent logins, nine wrong and one right: the lockout holds', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('api:\n  host: 127.0.0.1\n', 'api:\n  host: 0.0.0.0\n'));
  const password = 'correct-horse-battery-9';
  const made = await runCli(['admin', 'create', 'ops', '--password', password, '--config', file]);
  assert.equal(made.code, 0, made.stderr);
  server = await RunningServer.start(file, port);

  const login = (pw: string) => loginFromNetns(`http://${netns.hostIp}:${port}/api/auth/login`, 'ops', pw);
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
