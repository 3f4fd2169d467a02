// A fresh server has no admin and no default credentials: the web admin's first page
// asks for the one-time setup token from the file the log names, makes the first admin
// and signs in; afterwards the page is the normal sign-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { capture, launchBrowser, newContext } from '../helpers/browser.ts';

test('the first admin is made in the browser with the setup token', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const [server, browser] = await Promise.all([RunningServer.start(file, port), launchBrowser()]);
  try {
    await server.waitForLog(/No admin account yet/);
    const token = readFileSync(join(dir, 'data/setup-token'), 'utf8').trim();
    const page = await (await newContext(browser)).newPage();
    await page.goto(`http://127.0.0.1:${port}/admin/`);
    await page.getByRole('heading', { level: 1, name: 'Create the first admin' }).waitFor();
    const problems = await capture(page, 'first-admin');
    assert.deepEqual(problems, []);

    await page.getByLabel('Setup token').fill('not-the-token');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password-123');
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();
    const tokenError = page.locator('.field.has-error', { has: page.getByLabel('Setup token') }).getByRole('alert');
    await tokenError.waitFor();
    assert.match(await tokenError.innerText(), /setup token is wrong/);

    await page.getByLabel('Setup token').fill(token);
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();

    // From now on the page is the normal sign-in, and the new account works there.
    const fresh = await (await newContext(browser)).newPage();
    await fresh.goto(`http://127.0.0.1:${port}/admin/`);
    await fresh.getByRole('heading', { level: 1, name: 'Sign in to pbx' }).waitFor();
    await fresh.getByLabel('Username').fill('alice');
    await fresh.getByLabel('Password').fill('alice-password-123');
    await fresh.getByRole('button', { name: 'Sign in' }).click();
    await fresh.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
  }
});
