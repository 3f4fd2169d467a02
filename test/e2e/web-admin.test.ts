// The web admin in a real browser (Debian's Chromium through playwright-core) against the
// real server process: log in, create an extension, add a phone and read the file it
// would get; an unknown phone asks for a file, is assigned from the adoption queue and
// then gets its file from the real provisioning endpoint; a read-only account can change
// nothing; moving the API port in Settings moves the server and the browser follows.
// Every page is screenshotted at 1280×800 and 390×844 (test-output/screenshots/) and
// passes the accessibility checks of test/helpers/browser.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { capture, launchBrowser, newContext, type Problem } from '../helpers/browser.ts';
import { userAgentFor } from '../helpers/phones.ts';
import { fetchWithDigest, type Credential } from '../helpers/http-digest.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { leaveVoicemail } from '../helpers/rtp-peer.ts';
import { MASK, maskSecrets } from '../../src/api/routes/ui.ts';

const dir = tempDir();
const ADMIN = { user: 'alice', password: 'alice-password-123' };
const VIEWER = { user: 'victor', password: 'victor-password-123' };
let server: RunningServer;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let port: number;
const problems: Problem[] = [];
/** The provisioning login the web admin showed once for the phone it added. */
let login1: Credential;
/** SIP password of extension 2001, as the web admin showed it once. */
let secret2001: string;
let secret2002: string;
let sipPort: number;
let phone: TestUa | undefined;
const pageErrors: string[] = [];

const url = (path: string, p = port) => `http://127.0.0.1:${p}${path}`;

before(async () => {
  port = await freePort();
  sipPort = await freeSipPort();
  const file = writeConfig(dir, { port, sipPort, logLevel: 'info' });
  // This host is not a network where new phones may fetch without their login: every
  // per-device fetch below must use the login the web admin showed.
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', "provisioning:\n  auth:\n    first_fetch_networks: ['192.0.2.0/24']\n"));
  for (const [who, role] of [
    [ADMIN, 'admin'],
    [VIEWER, 'read-only'],
  ] as const) {
    const r = await runCli(['admin', 'create', who.user, '--role', role, '--password', who.password, '--config', file]);
    assert.equal(r.code, 0, r.stderr);
  }
  [server, browser] = await Promise.all([RunningServer.start(file, port), launchBrowser()]);
  admin = await newContext(browser);
  page = await watch(await admin.newPage());
});

after(async () => {
  phone?.close();
  await browser?.close();
  await server?.stop();
});

/** Console errors and uncaught exceptions fail the test (e.g. a CSP violation). */
async function watch(p: Page): Promise<Page> {
  p.on('pageerror', (err) => pageErrors.push(`${p.url()}: ${err.message}`));
  p.on('console', (m) => {
    // A failed request is reported by the test's own assertions; anything else is a bug.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(`${p.url()}: ${m.text()}`);
  });
  return p;
}

async function login(p: Page, who: { user: string; password: string }): Promise<void> {
  await p.goto(url('/admin/'));
  await p.getByLabel('Username').fill(who.user);
  await p.getByLabel('Password').fill(who.password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}

async function go(p: Page, name: string, heading = name): Promise<void> {
  await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  await p.getByRole('heading', { level: 1, name: heading }).waitFor();
}

const token = (p: Page) => p.evaluate(() => JSON.parse(sessionStorage.getItem('pbx.session')!).token as string);

test('the file preview masks secrets: known values anywhere, and password, secret or PIN keys of every format', () => {
  const file = [
    'account.1.password = s3cret-Value-1',
    'static.auto_provision.server.password = ProvPass123456',
    'voice_mail.pin = 4711',
    'sip.ping_interval = 30',
    '<P34>s3cret-Value-1</P34>',
    '<Password_1_>other</Password_1_>',
    '<reg reg.1.auth.password="quoted" reg.1.label="x"/>',
    'label = mentions s3cret-Value-1 inline',
    'account.1.password =',
  ].join('\n');
  const masked = maskSecrets(file, ['s3cret-Value-1', 'abc']).split('\n');
  assert.deepEqual(masked, [
    `account.1.password = ${MASK}`,
    `static.auto_provision.server.password = ${MASK}`,
    `voice_mail.pin = ${MASK}`,
    'sip.ping_interval = 30',
    `<P34>${MASK}</P34>`,
    `<Password_1_>${MASK}</Password_1_>`,
    `<reg reg.1.auth.password="${MASK}" reg.1.label="x"/>`,
    `label = mentions ${MASK} inline`,
    'account.1.password =',
  ]);
});

test('the admin app is served at /admin with deep links, and the login page is usable', async () => {
  const res = await fetch(url('/admin/phones/001565000001'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await res.text();
  assert.match(html, /<script type="module" crossorigin src="\/admin\/assets\/index-[\w-]+\.js"><\/script>/);
  assert.doesNotMatch(html, /https?:\/\//, 'no asset from another origin');
  assert.equal((await fetch(url('/admin/assets/missing.js'))).status, 404);

  await page.goto(url('/admin/'));
  await page.getByRole('heading', { level: 1, name: 'Sign in to pbx' }).waitFor();
  await page.getByLabel('Username').fill(ADMIN.user);
  await page.getByLabel('Password').fill('wrong-password-000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Wrong username or password').waitFor();
  problems.push(...(await capture(page, 'login')));
});

test('an admin logs in, creates an extension and adds a phone whose file preview shows the extension', async () => {
  await login(page, ADMIN);
  await go(page, 'Extensions');
  await page.getByRole('button', { name: 'New extension' }).click();
  // An API error appears next to the field it concerns.
  await page.getByLabel('Number').fill('12a');
  await page.getByRole('button', { name: 'Create extension' }).click();
  const numberError = page.locator('.field.has-error', { has: page.getByLabel('Number') }).getByRole('alert');
  await numberError.waitFor();
  assert.match(await numberError.innerText(), /number/);
  await page.getByLabel('Number').fill('2001');
  await page.getByLabel('Name').fill('Reception');
  await page.getByRole('button', { name: 'Create extension' }).click();
  const secret = (secret2001 = await page.locator('[data-secret]').innerText());
  assert.match(secret, /^[A-Za-z0-9]{20}$/, 'the generated password is shown once');
  await page.getByRole('button', { name: 'Copy password' }).waitFor();
  await page.getByRole('row', { name: /2001 Reception/ }).waitFor();
  problems.push(...(await capture(page, 'extensions')));
  await page.getByRole('button', { name: 'Done' }).click();
  assert.equal(await page.locator('[data-secret]').count(), 0, 'gone once dismissed');

  await go(page, 'Phones');
  await page.getByRole('button', { name: 'Add phone' }).click();
  await page.getByLabel('MAC address').fill('00-15-65-AB-CD-01');
  await page.getByLabel('Vendor').selectOption('yealink');
  await page.getByLabel('Model').selectOption('T46S');
  await page.getByLabel('Extension').selectOption('2001');
  await page.getByLabel('Label').fill('Front desk');
  await page.getByRole('button', { name: 'Add phone', exact: true }).last().click();
  await page.getByRole('heading', { level: 1, name: 'Phone 00:15:65:ab:cd:01' }).waitFor();
  // Its provisioning login is shown once, like a SIP password.
  login1 = { user: await page.locator('[data-secret="User"]').innerText(), password: await page.locator('[data-secret="Password"]').innerText() };
  assert.equal(login1.user, '001565abcd01');
  assert.match(login1.password, /^[A-Za-z0-9]{20,}$/);
  const preview = page.locator('[data-preview]');
  await preview.waitFor();
  const file = await preview.innerText();
  assert.match(file, /^account\.1\.user_name = 2001$/m, 'the file names the extension');
  assert.match(file, /^account\.1\.password = ••••••••$/m, 'the password is masked');
  assert.ok(!file.includes(secret), 'the SIP password never reaches the page');
  assert.ok(!file.includes(login1.password), 'nor the provisioning password');
  assert.match(file, /^static\.auto_provision\.server\.password = ••••••••$/m);
  assert.equal(await page.locator('dd [data-config-url]').innerText(), url('/provision/001565abcd01.cfg'));
  problems.push(...(await capture(page, 'phone')));
  await page.getByRole('button', { name: 'Done' }).click();
  assert.equal(await page.locator('[data-secret]').count(), 0, 'the password is not shown again');

  await go(page, 'Phones');
  await page.getByRole('row', { name: /00:15:65:ab:cd:01/ }).waitFor();
  problems.push(...(await capture(page, 'phones')));
});

test('an unknown phone that asked for a file is assigned from the adoption queue and then gets its file', async () => {
  const mac = '001565abcd02';
  const ua = userAgentFor('yealink', 'T54W', mac);
  await go(page, 'Extensions');
  await page.getByRole('button', { name: 'New extension' }).click();
  await page.getByLabel('Number').fill('2002');
  await page.getByRole('button', { name: 'Create extension' }).click();
  secret2002 = await page.locator('[data-secret]').innerText();

  // The open dashboard shows the unknown phone's request as it happens (server-sent events).
  await go(page, 'Dashboard');
  await page.getByRole('status').getByText('Live', { exact: true }).waitFor();
  await page.locator('.chart').waitFor();
  assert.equal(await page.getByText('unknown phone(s) asked for a file').count(), 0);
  const before = await fetch(url(`/provision/${mac}.cfg`), { headers: { 'user-agent': ua } });
  assert.equal(before.status, 404, 'unknown: no file');
  await page.getByText('1 unknown phone(s) asked for a file').waitFor();
  // A phone registers extension 2001 with the password the page showed: counted and listed at once.
  phone = await new TestUa({ host: '127.0.0.1', port: sipPort }, '2001', secret2001).open();
  assert.equal((await phone.register()).reply.status, 200);
  await page.getByRole('region', { name: 'List of registrations' }).getByRole('rowheader', { name: '2001' }).waitFor();
  await page.locator('.stat', { hasText: /Registered phones\s*1\s*of 1 phones/ }).waitFor();
  problems.push(...(await capture(page, 'dashboard')));

  await go(page, 'Adoption', 'Adoption queue');
  const card = page.locator(`li[data-mac="${mac}"]`);
  await card.waitFor();
  assert.match(await card.innerText(), /yealink T54W \(from the User-Agent\)/);
  assert.equal(await card.getByLabel('Vendor').inputValue(), 'yealink');
  assert.equal(await card.getByLabel('Model').inputValue(), 'T54W');
  problems.push(...(await capture(page, 'adoption')));
  await card.getByLabel('Extension').selectOption('2002');
  await card.getByRole('button', { name: /^Assign/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Phone 00:15:65:ab:cd:02' }).waitFor();
  assert.match(await page.locator('[data-preview]').innerText(), /^account\.1\.user_name = 2002$/m);
  const login2 = { user: await page.locator('[data-secret="User"]').innerText(), password: await page.locator('[data-secret="Password"]').innerText() };

  // The real provisioning endpoint now serves that phone its file, to the login shown once.
  assert.equal((await fetch(url(`/provision/${mac}.cfg`), { headers: { 'user-agent': ua } })).status, 401, 'not without its login');
  const after = await fetchWithDigest(url(`/provision/${mac}.cfg`), login2, { 'user-agent': ua });
  assert.equal(after.status, 200);
  assert.match(await after.text(), /^account\.1\.user_name = 2002$/m);
  // …and the phone page shows that fetch in its timeline, live.
  await page.getByRole('region', { name: 'List of provisioning requests' }).getByText('delivered').waitFor();

  await go(page, 'Adoption', 'Adoption queue');
  await page.getByText('No unknown phones have asked for a file.').waitFor();

  // The first phone fetches with the login the admin was shown when it added it.
  const withLogin = await fetchWithDigest(url('/provision/001565abcd01.cfg'), login1, { 'user-agent': userAgentFor('yealink', 'T46S', '001565abcd01') });
  assert.equal(withLogin.status, 200);
  assert.match(await withLogin.text(), /^account\.1\.user_name = 2001$/m);
});

test('a file a Polycom phone uploaded shows on its page, and its content on request', async () => {
  const t = await token(page);
  const api = (method: string, path: string, body?: unknown) =>
    fetch(url(path), { method, headers: { authorization: `Bearer ${t}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const created = await api('POST', '/api/provisioning/devices', { mac_address: '64167fabcd05', extension_number: '2001', vendor: 'polycom', model: 'VVX450' });
  assert.equal(created.status, 201);
  const { provisioning_username: user, provisioning_password: password } = (await created.json()) as { provisioning_username: string; provisioning_password: string };
  const settings = '<PHONE_CONFIG><OVERRIDES lcl.ml.lang="Francais_France"/></PHONE_CONFIG>\n';
  const put = await fetchWithDigest(url('/provision/64167fabcd05-phone.cfg'), { user, password }, { 'user-agent': userAgentFor('polycom', 'VVX450', '64167fabcd05') }, 'MD5', { method: 'PUT', body: settings });
  assert.equal(put.status, 204);
  await page.goto(url('/admin/phones/64167fabcd05'));
  const row = page.locator('[data-upload="64167fabcd05-phone.cfg"]');
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(`${settings.length} bytes`));
  await row.getByRole('button', { name: 'Show' }).click();
  const content = page.locator('[data-upload-content]');
  await content.waitFor();
  assert.equal((await content.innerText()).trim(), settings.trim());
  problems.push(...(await capture(page, 'phone-uploads')));
  // The tests after this one count the phones: this one goes (and its uploads with it).
  assert.equal((await api('DELETE', '/api/provisioning/devices/64167fabcd05')).status, 204);
});

test('a mailbox page lists a message, plays it in the page, and deletes it', async () => {
  const t = await token(page);
  const api = (method: string, path: string, body?: unknown) =>
    fetch(url(path), { method, headers: { authorization: `Bearer ${t}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  assert.equal((await api('POST', '/api/extensions', { number: '2009', name: 'Nobody home' })).status, 201);
  // 2001 calls 2009, which has no phone: voicemail answers; the caller skips the greeting and plays a tone.
  const caller = await new TestUa({ host: '127.0.0.1', port: sipPort }, '2001', secret2001).open();
  try {
    await leaveVoicemail(caller, '2009', 500, 2500);
  } finally {
    caller.close();
  }
  // The PIN is set on the extension page (the API checks it against the PIN policy).
  await page.goto(url('/admin/extensions'));
  await page.getByRole('button', { name: 'Edit extension 2009' }).click();
  await page.getByLabel('Voicemail PIN').fill('1111');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const pinError = page.locator('.field.has-error', { has: page.getByLabel('Voicemail PIN') }).getByRole('alert');
  await pinError.waitFor();
  assert.match(await pinError.innerText(), /one digit repeated/);
  await page.getByLabel('Voicemail PIN').fill('4826');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('form', { name: 'Edit extension 2009' }).waitFor({ state: 'detached' });
  assert.equal(((await (await api('GET', '/api/voicemail/2009')).json()) as { pin_set: boolean }).pin_set, true);
  await page.goto(url('/admin/voicemail/2009'));
  const row = page.locator('tr[data-message]');
  await row.waitFor();
  assert.match(await row.innerText(), /2001/);
  await row.getByRole('button', { name: /Play/ }).click();
  const player = page.locator('audio[data-player]');
  await player.waitFor();
  const seconds = await player.evaluate(
    (a: HTMLAudioElement) => new Promise<number>((ok) => (a.readyState >= 1 ? ok(a.duration) : a.addEventListener('loadedmetadata', () => ok(a.duration), { once: true }))),
  );
  assert.ok(seconds > 1, `the browser decoded the message (${seconds} s)`);
  problems.push(...(await capture(page, 'voicemail')));
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByRole('button', { name: 'Delete this message' }).click();
  await page.getByText('No messages.').waitFor();
  assert.equal((await api('DELETE', '/api/extensions/2009')).status, 204);
});

test('a registered phone is resynced from its page', async () => {
  await go(page, 'Phones');
  const row = page.getByRole('row', { name: /00:15:65:ab:cd:01/ });
  await row.getByText('registered', { exact: true }).waitFor();
  await row.getByRole('link').click();
  await page.getByRole('region', { name: 'List of registrations' }).getByText(`127.0.0.1:${phone!.port} (udp)`).waitFor();
  await page.getByRole('button', { name: 'Resync' }).click();
  await page.getByText(/Resync \(check-sync[^)]*\) sent to 1 contact\(s\); answers: 200\./).waitFor();
  assert.ok(phone!.requests.some((r) => r.method === 'NOTIFY'), 'the phone got the NOTIFY');
});

test('a call shows on the calls page while it lasts, then in the history, with filters', async () => {
  await go(page, 'Calls');
  await page.getByText('No call right now.').waitFor();
  // 2002 calls the registered phone of 2001, which answers.
  phone!.onRequest = (req) => ({ status: 200, reason: 'OK', extra: req.method === 'INVITE' ? [`Contact: <sip:2001@127.0.0.1:${phone!.port}>`] : [] });
  const caller = await new TestUa({ host: '127.0.0.1', port: sipPort }, '2002', secret2002).open();
  try {
    const base = { uri: 'sip:2001@127.0.0.1', to: '<sip:2001@127.0.0.1>', from: '<sip:2002@127.0.0.1>;tag=web1', callId: 'web-admin-call-1' };
    const challenge = await caller.request('INVITE', base);
    const ok = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${caller.authorize('INVITE', base.uri, challenge, 'proxy-authenticate')}`] });
    assert.equal(ok.status, 200);
    const active = page.getByRole('region', { name: 'List of active calls' });
    await active.getByRole('row', { name: /2002 2001/ }).waitFor();
    problems.push(...(await capture(page, 'calls-active')));
    const h = (n: string) => ok.headers.get(n)![0]!;
    const bye = await caller.request('BYE', { uri: `sip:2001@127.0.0.1:${phone!.port}`, from: h('from'), to: h('to'), callId: h('call-id'), cseq: 5, headers: (ok.headers.get('record-route') ?? []).map((r) => `Route: ${r}`) });
    assert.equal(bye.status, 200);
  } finally {
    caller.close();
  }
  await page.getByText('No call right now.').waitFor();
  const history = page.getByRole('region', { name: 'List of past calls' });
  await history.getByText('answered').waitFor();
  assert.match(await history.getByRole('row').nth(1).innerText(), /2002[\s\S]*2001[\s\S]*answered 200/);
  await page.getByLabel('Result').selectOption('busy');
  await page.getByText('No calls match.').waitFor();
  await page.getByLabel('Result').selectOption('answered');
  await page.getByLabel('Extension').fill('2002');
  await history.getByText('answered').waitFor();
  problems.push(...(await capture(page, 'calls')));
});

test('settings: a refused value is shown at its field', async () => {
  await go(page, 'Settings');
  await page.getByText(`A phone will get: ${url('/provision/001565abcd01.cfg')}`).waitFor();
  // A bad value is refused by the API and shown at its field.
  await page.getByLabel('Time zone').fill('Mars/Olympus');
  await page.getByRole('button', { name: 'Save settings' }).click();
  const tzError = page.locator('.field.has-error', { has: page.getByLabel('Time zone') }).getByRole('alert');
  await tzError.waitFor();
  assert.match(await tzError.innerText(), /timezone/);
  await page.getByRole('button', { name: 'Reset' }).click();
  problems.push(...(await capture(page, 'settings')));
});

test('trunks: a bad host is refused at its field; a trunk created on the page is listed with its state and can be disabled', async () => {
  await go(page, 'Trunks');
  await page.getByRole('button', { name: 'New trunk' }).click();
  await page.getByLabel('Name', { exact: true }).fill('itsp');
  await page.getByLabel('Provider host').fill('not a host!');
  await page.getByLabel('Register with the provider', { exact: false }).uncheck();
  await page.getByRole('button', { name: 'Create trunk' }).click();
  await page.getByText(/host: "not a host!" is neither a host name nor an IP address/).waitFor();
  await page.getByLabel('Provider host').fill('127.0.0.2');
  await page.getByLabel('Port', { exact: true }).fill('5099');
  await page.getByRole('button', { name: 'Create trunk' }).click();
  const row = page.locator('tr[data-trunk="itsp"]');
  await row.waitFor();
  assert.match(await row.innerText(), /UDP 127\.0\.0\.2:5099.*IP-authenticated/s);
  assert.match(await row.innerText(), /ip-authenticated/);
  await page.getByRole('heading', { name: 'Routes' }).waitFor();
  await page.getByText('Any other number dialled: refused (404).').waitFor();
  problems.push(...(await capture(page, 'trunks')));
  await row.getByRole('button', { name: 'Disable trunk itsp' }).click();
  await row.getByText('disabled', { exact: true }).waitFor();
  const api = await fetch(url('/api/trunks/itsp'), { headers: { authorization: `Bearer ${await token(page)}` } });
  assert.equal((await api.json()).enabled, false);
});

test('a read-only account sees everything and can change nothing', async () => {
  const ctx = await newContext(browser);
  try {
    const p = await watch(await ctx.newPage());
    await login(p, VIEWER);
    await p.getByText('Read-only account').waitFor();
    await go(p, 'Extensions');
    await p.getByRole('row', { name: /2001 Reception/ }).waitFor();
    assert.equal(await p.getByRole('button', { name: 'New extension' }).count(), 0);
    assert.equal(await p.getByRole('button', { name: /^Edit/ }).count(), 0);
    await go(p, 'Phones');
    await p.getByRole('row', { name: /00:15:65:ab:cd:01/ }).waitFor();
    assert.equal(await p.getByRole('button', { name: 'Add phone' }).count(), 0);
    await p.getByRole('link', { name: '00:15:65:ab:cd:01' }).click();
    await p.locator('[data-preview]').waitFor();
    for (const name of ['Resync', 'Reboot', 'Remove phone', 'Change extension or label']) {
      assert.equal(await p.getByRole('button', { name }).count(), 0, `no ${name} button`);
    }
    await go(p, 'Settings');
    await p.getByText('A phone will get:').waitFor();
    assert.equal(await p.getByLabel('API and provisioning port').isDisabled(), true);
    assert.equal(await p.getByRole('button', { name: /Save settings|Review port change/ }).count(), 0);
    // The API refuses writes with this session's token, whatever the page shows.
    const t = await token(p);
    for (const [method, path, body] of [
      ['POST', '/api/extensions', { number: '2999' }],
      ['DELETE', '/api/extensions/2001', undefined],
      ['PUT', '/api/provisioning/settings', { api_port: 1 }],
      ['POST', '/api/provisioning/devices/001565abcd01/resync', {}],
    ] as const) {
      const res = await fetch(url(path), { method, headers: { authorization: `Bearer ${t}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body && JSON.stringify(body) });
      assert.equal(res.status, 403, `${method} ${path}`);
    }
  } finally {
    await ctx.close();
  }
});

test('changing the API port in Settings moves the server; the browser follows and the phones show the new URLs', async () => {
  await go(page, 'Settings');
  const portField = page.getByLabel('API and provisioning port');
  // A port another program holds: the server stays, and the page says so at the field.
  const squatter = createServer();
  const busy = await new Promise<number>((ok) => squatter.listen(0, '127.0.0.1', () => ok((squatter.address() as AddressInfo).port)));
  try {
    await portField.fill(String(busy));
    await page.getByRole('button', { name: 'Review port change' }).click();
    await page.getByRole('button', { name: `Move to port ${busy} and save` }).click();
    const portError = page.locator('.field.has-error', { has: portField }).getByRole('alert');
    await portError.waitFor();
    // The API refused the change at api.port: the port is in use, nothing moved, config.yml is as it was.
    assert.match(await portError.innerText(), new RegExp(`API port ${busy} on 127\\.0\\.0\\.1 is already in use by another process`));
    assert.equal(page.url(), url('/admin/settings'), 'the page stayed');
  } finally {
    squatter.close();
  }

  const next = await freePort();
  await portField.fill(String(next));
  // The warning says what will happen before anything is applied.
  const warning = page.locator('[data-port-warning]');
  await warning.waitFor();
  const text = await warning.innerText();
  assert.match(text, new RegExp(`Port ${port} keeps serving phone files \\(only\\) for 7 day`));
  assert.match(text, /told to fetch their file again/);
  await page.getByText(`A phone will get: ${url('/provision/001565abcd01.cfg', next)}`).waitFor();
  problems.push(...(await capture(page, 'settings-port-change')));
  await page.getByRole('button', { name: 'Review port change' }).click();
  assert.equal((await fetch(url('/health'))).status, 200, 'nothing moved yet');
  await page.getByRole('button', { name: `Move to port ${next} and save` }).click();

  await page.waitForURL(url('/admin/settings', next));
  assert.ok(!page.url().includes('#'), 'the session hand-off is removed from the address bar');
  await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
  assert.equal(await page.getByLabel('API and provisioning port').inputValue(), String(next));
  assert.equal((await fetch(url('/health', next))).status, 200, 'the server answers on the new port');
  assert.equal((await fetch(url('/api/status', port), { headers: { authorization: `Bearer ${await token(page)}` }, redirect: 'manual' })).status, 404, 'the old port serves phones only');

  await go(page, 'Phones');
  await page.locator('td [data-config-url]').nth(1).waitFor();
  const urls = await page.locator('td [data-config-url]').allInnerTexts();
  assert.deepEqual(urls.sort(), [url('/provision/001565abcd01.cfg', next), url('/provision/001565abcd02.cfg', next)]);
  port = next;

  // A port change made elsewhere (here the API; config.yml alike) reaches the open page as
  // a `moved` event, and the page follows with its session.
  const third = await freePort();
  const moved = await fetch(url('/api/config'), {
    method: 'PUT',
    headers: { authorization: `Bearer ${await token(page)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ values: { 'api.port': third } }),
  });
  assert.equal(moved.status, 200);
  await page.waitForURL(url('/admin/phones', third));
  await page.locator('td [data-config-url]').nth(1).waitFor();
  assert.match(await page.locator('td [data-config-url]').first().innerText(), new RegExp(`:${third}/provision/`));
  port = third;
});

test('a weak password is refused with the way to accept it, and accepted once the admin says so', async () => {
  await go(page, 'Extensions');
  await page.getByRole('button', { name: 'New extension' }).click();
  await page.getByLabel('Number').fill('2009');
  await page.getByLabel('SIP password').fill('aaaaaaaaaaaa');
  await page.getByRole('button', { name: 'Create extension' }).click();
  const error = page.getByText(/password is weak/);
  await error.waitFor();
  assert.match(await error.innerText(), /web admin: "Accept it even if weak"/);
  await page.getByLabel(/Accept it even if weak/).check();
  await page.getByRole('button', { name: 'Create extension' }).click();
  assert.equal(await page.locator('[data-secret]').innerText(), 'aaaaaaaaaaaa');
});

test('a long extension list is read a page at a time: the pager walks it, the search asks the server; the dashboard asks for 20 registrations, the phones page for its page of phones and their lines', async () => {
  const csv = ['extension,name,secret', ...Array.from({ length: 250 }, (_, i) => `${3000 + i},Bulk ${i},bulk-Pw-${1000 + i}-xyzzy`)].join('\n');
  const res = await fetch(url('/api/extensions/import?allow_weak_passwords=true'), { method: 'POST', headers: { authorization: `Bearer ${await token(page)}`, 'content-type': 'text/csv' }, body: csv });
  assert.equal(res.status, 200, await res.text());
  const asked: string[] = [];
  const onRequest = (r: { url(): string; method(): string }) => {
    const u = new URL(r.url());
    if (r.method() === 'GET' && ['/api/extensions', '/api/registrations', '/api/provisioning/devices'].includes(u.pathname)) asked.push(`${u.pathname}${u.search}`);
  };
  page.on('request', onRequest);
  try {
    await go(page, 'Extensions');
    const status = page.getByRole('navigation', { name: 'extensions pages' }).getByRole('status');
    await status.filter({ hasText: /^1–100 of 25\d$/ }).waitFor();
    const total = Number(/of (\d+)/.exec(await status.innerText())![1]);
    assert.equal(await page.locator('tr[data-extension]').count(), 100, 'one page of rows');
    // The second page answers slowly: until it is there, the pager still names the rows shown.
    const slowPage = /\/api\/extensions\?limit=100&offset=100/;
    await page.route(slowPage, async (route) => {
      await new Promise((r) => setTimeout(r, 500));
      await route.continue();
    });
    await page.getByRole('button', { name: 'Next extensions' }).click();
    await new Promise((r) => setTimeout(r, 200));
    assert.match(await status.innerText(), /^1–100 of/, 'while the next page loads, the pager describes the rows on the screen');
    await status.filter({ hasText: `101–200 of ${total}` }).waitFor();
    // The page may ask for that page again while the first answer is held: waiting lets a
    // held handler finish its continue() (a plain unroute continued it first, and the late
    // continue() then failed as an unhandled rejection after the test).
    await page.unrouteAll({ behavior: 'wait' });
    assert.equal(await page.locator('tr[data-extension]').first().getAttribute('data-extension'), '3097', 'the second page starts where the first ended (2001, 2002, 2009 first)');
    await page.getByRole('button', { name: 'Next extensions' }).click();
    await status.filter({ hasText: `201–${total} of ${total}` }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Next extensions' }).isDisabled(), true, 'no page after the last');
    await page.getByLabel('Search extensions').fill('3249');
    await page.getByRole('row', { name: /3249 Bulk 249/ }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('tr[data-extension]').length === 1);
    assert.equal(await page.getByRole('navigation', { name: 'extensions pages' }).count(), 0, 'one match: no pager');
    await go(page, 'Dashboard');
    await page.getByRole('heading', { name: 'Registered phones' }).waitFor();
    await page.waitForFunction(() => !document.body.innerText.includes('Loading'));
    // The page asks for its lines' registrations once its phones are listed: wait for that request itself.
    const lines = page.waitForRequest((r) => /\/api\/registrations\?extensions=\d/.test(r.url()), { timeout: 10_000 });
    await go(page, 'Phones');
    await page.locator('tr[data-mac]').first().waitFor();
    await lines;
    await page.getByText('registered', { exact: false }).first().waitFor();
    // A site this big picks a phone's extension by typing, with the server's matches as
    // suggestions: no select of every extension.
    await page.getByRole('button', { name: 'Add phone' }).click();
    const extension = page.getByLabel('Extension');
    await page.getByText(/^25\d extensions: type a number or a name$/).waitFor();
    assert.equal(await extension.evaluate((el) => el.tagName), 'INPUT');
    await page.getByLabel('MAC address').fill('00-15-65-AB-CD-42');
    await page.getByLabel('Vendor').selectOption('yealink');
    await page.getByLabel('Model').selectOption('T46S');
    await extension.fill('3249');
    await page.locator('datalist option[value="3249"]').waitFor({ state: 'attached' });
    assert.equal(await page.locator('datalist option').count(), 1, 'the one match');
    assert.equal(await page.locator('datalist option').innerText(), '3249 · Bulk 249');
    await page.getByRole('button', { name: 'Add phone', exact: true }).last().click();
    await page.getByRole('heading', { level: 1, name: 'Phone 00:15:65:ab:cd:42' }).waitFor();
    const added = await fetch(url('/api/provisioning/devices/001565abcd42'), { headers: { authorization: `Bearer ${await token(page)}` } });
    assert.deepEqual(((await added.json()) as { lines: string[] }).lines, ['3249']);
  } finally {
    page.off('request', onRequest);
  }
  assert.ok(asked.includes('/api/extensions?free_first=true&limit=20&q=3249'), asked.join(' '));
  assert.ok(asked.includes('/api/extensions?limit=100&offset=100'), asked.join(' '));
  assert.ok(asked.includes('/api/extensions?limit=100&offset=0&q=3249'), asked.join(' '));
  assert.ok(asked.includes('/api/registrations?limit=20'), asked.join(' '));
  assert.ok(asked.includes('/api/provisioning/devices?limit=100&offset=0'), asked.join(' '));
  assert.ok(asked.some((a) => /^\/api\/registrations\?extensions=\d+(,\d+)*$/.test(a)), asked.join(' '));
  assert.deepEqual(asked.filter((a) => !/[?&](limit|extensions)=/.test(a)), [], 'no page asked for a whole list');
});

test('no page had a console error, and every page passes the accessibility checks', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(
    problems.map((p) => `${p.page}: ${p.problem}`),
    [],
  );
});
