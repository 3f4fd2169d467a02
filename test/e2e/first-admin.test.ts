// No default credentials, and no shell needed for the first admin: a fresh server
// writes a one-time setup token to a 0600 file (never to the log); the web admin's
// first page makes the first admin with it; after that the token is void.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

test('the first admin is made with the one-time setup token from the file the log names', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  let s = await RunningServer.start(file, port);
  try {
    await s.waitForLog(/No admin account yet: open http:\/\/127\.0\.0\.1:\d+\/admin\/ and enter the one-time setup token from (\S+), or run: pbx admin create/);
    const tokenFile = join(dir, 'data/setup-token');
    assert.ok(s.log.includes(tokenFile));
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.ok(token.length >= 32);
    assert.ok(!(await s.settledLog()).includes(token), 'the token itself is never logged');

    assert.deepEqual((await s.api('GET', '/api/auth/setup', null)).json, { needed: true });
    const wrong = await s.api('POST', '/api/auth/setup', null, { token: 'not-the-token', username: 'alice', password: 'correct-horse-battery' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.field, 'token');
    // A wrong token is reported first, whatever else is wrong: it is what the person must fix.
    const wrongAndShort = await s.api('POST', '/api/auth/setup', null, { token: 'not-the-token', username: 'alice', password: 'short' });
    assert.equal(wrongAndShort.json.field, 'token', wrongAndShort.text);
    const weak = await s.api('POST', '/api/auth/setup', null, { token, username: 'alice', password: 'short' });
    assert.equal(weak.status, 400);
    assert.equal(weak.json.field, 'password');
    assert.equal(weak.json.message, 'The password needs at least 12 characters (this one has 5)', 'a message for a person, not a schema');

    const made = await s.api('POST', '/api/auth/setup', null, { token, username: 'alice', password: 'correct-horse-battery' });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.role, 'admin');
    assert.equal((await s.api('GET', '/api/status', made.json.token)).status, 200, 'the answer is a working session');
    assert.ok(!existsSync(tokenFile), 'the token file is gone');
    assert.equal((await s.api('POST', '/api/auth/setup', null, { token, username: 'mallory', password: 'correct-horse-battery' })).status, 409);
    assert.deepEqual((await s.api('GET', '/api/auth/setup', null)).json, { needed: false });
    assert.equal((await s.api('POST', '/api/auth/login', null, { username: 'alice', password: 'correct-horse-battery' })).status, 200);

    await s.stop();
    s = await RunningServer.start(file, port);
    assert.doesNotMatch(await s.settledLog(), /No admin account yet/, 'no new token once an admin exists');
    assert.ok(!existsSync(tokenFile));
  } finally {
    await s.stop();
  }
});
