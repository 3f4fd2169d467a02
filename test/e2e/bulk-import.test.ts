// Bulk import and export of extensions as CSV: the files admins bring from FreePBX
// (Bulk Handler) and FusionPBX, through the API (in-process, fastify inject) and the CLI
// (the real process). Every row is checked first; one bad row changes nothing and every
// bad row is named by its line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pbx } from '../../src/application.ts';
import type { Http } from '../../src/api/server.ts';
import { runCli, tempDir, writeConfig, freePort, freeSipPort } from '../helpers/server.ts';
import { inProcess, type InProcess } from '../helpers/in-process.ts';

let it: InProcess;
let pbx: Pbx;
let app: Http;
let admin: string;
let reader: string;

before(async () => {
  it = await inProcess();
  ({ pbx, app } = it);
  admin = (await pbx.tokens.create('admin')).token;
  reader = (await pbx.tokens.create('viewer', 'read-only')).token;
});
after(() => it.close());

const importCsv = (csv: string, token = admin, query = '') =>
  app.inject({ method: 'POST', url: `/api/extensions/import${query}`, payload: csv, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' } });

// FreePBX Bulk Handler's extension export (a few of its many columns).
const FREEPBX = `extension,name,description,tech,secret,voicemail_vmpwd,callwaiting_enable
301,Reception,,pjsip,9f2c1e0b7a4d4c3e8b1a,4711,ENABLED
302,"Smith, Anna",,pjsip,0d9e8f7a6b5c4d3e2f1a,,ENABLED
303,Warehouse,,pjsip,,,ENABLED
`;

test('a FreePBX export is imported: names, passwords and PINs as given, a password generated where none was; unknown columns reported', async () => {
  const res = await importCsv(FREEPBX);
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.created, 3);
  assert.equal(body.updated, 0);
  assert.deepEqual(body.ignored_columns, ['description', 'tech', 'callwaiting_enable']);
  assert.equal(pbx.extensions.get('302')?.name, 'Smith, Anna');
  assert.equal(pbx.extensions.get('301')?.secret, '9f2c1e0b7a4d4c3e8b1a');
  assert.deepEqual(body.passwords.map((p: { number: string }) => p.number), ['303'], 'a password is generated, and shown once, only where the file had none');
  assert.equal(body.passwords[0].password, pbx.extensions.get('303')?.secret);
  assert.ok(pbx.extensions.get('303')!.secret.length >= 12);
});

test('one bad row changes nothing; every bad row is named by its line and field', async () => {
  const before = pbx.extensions.list().length;
  const csv = 'extension,name,secret,enabled\n310,Good,Str0ng-Passw0rd-1,yes\n31a,Letters,,\n310,Twice,,\n311,Weak,311311,\n312,Odd,,maybe\n';
  const res = await importCsv(csv);
  assert.equal(res.statusCode, 400);
  const errors = res.json().errors as { line: number; field: string }[];
  assert.deepEqual(
    errors.map((e) => [e.line, e.field]),
    [
      [3, 'number'],
      [4, 'number'],
      [5, 'password'],
      [6, 'enabled'],
    ],
  );
  assert.equal(pbx.extensions.list().length, before, 'nothing was imported');
  assert.equal(pbx.extensions.get('310'), undefined);
  // The same file, weak passwords accepted and the bad rows gone, goes in.
  const fixed = await importCsv('extension,name,secret\n310,Good,Str0ng-Passw0rd-1\n311,Weak,311311\n', admin, '?allow_weak_passwords=true');
  assert.equal(fixed.statusCode, 200, fixed.body);
  assert.equal(pbx.extensions.get('311')?.secret, '311311');
  // A malformed CSV is refused with the line.
  const broken = await importCsv('extension,name\n320,"unclosed\n');
  assert.equal(broken.statusCode, 400);
  assert.match(broken.json().message, /malformed/);
  const noNumber = await importCsv('name,secret\nA,b\n');
  assert.equal(noNumber.statusCode, 400);
  assert.match(noNumber.json().message, /lacks number .*extension/);
});

test('an import updates the extensions it names; a dry run checks without writing', async () => {
  const dry = await importCsv('extension,name\n301,Front desk\n399,New one\n', admin, '?dry_run=true');
  assert.equal(dry.statusCode, 200, dry.body);
  assert.equal(pbx.extensions.get('399'), undefined);
  assert.equal(pbx.extensions.get('301')?.name, 'Reception');
  const res = await importCsv('extension,name\n301,Front desk\n');
  assert.equal(res.json().updated, 1);
  assert.equal(pbx.extensions.get('301')?.name, 'Front desk');
  assert.equal(pbx.extensions.get('301')?.secret, '9f2c1e0b7a4d4c3e8b1a', 'a row without a password keeps the password');
});

test('export: CSV without passwords; with passwords for admin tokens only; a read-only token cannot import', async () => {
  const plain = await app.inject({ url: '/api/extensions/export', headers: { authorization: `Bearer ${reader}` } });
  assert.equal(plain.statusCode, 200);
  assert.match(plain.headers['content-type'] as string, /^text\/csv/);
  assert.match(plain.body, /^number,name,enabled,outbound_class,digest_algorithms\n/);
  assert.match(plain.body, /^302,"Smith, Anna",true,,$/m);
  assert.doesNotMatch(plain.body, /9f2c1e0b7a4d4c3e8b1a/);
  assert.equal((await app.inject({ url: '/api/extensions/export?passwords=true', headers: { authorization: `Bearer ${reader}` } })).statusCode, 403);
  const full = await app.inject({ url: '/api/extensions/export?passwords=true', headers: { authorization: `Bearer ${admin}` } });
  assert.match(full.body, /^301,Front desk,true,,,9f2c1e0b7a4d4c3e8b1a$/m);
  assert.equal((await importCsv('extension\n330\n', reader)).statusCode, 403);
  // What was exported goes back in unchanged (a migration to another box).
  const again = await importCsv(full.body);
  assert.equal(again.statusCode, 200, again.body);
  assert.equal(again.json().created, 0);
});

test('a big file in one go: 5,000 extensions', async () => {
  const lines = ['extension,name'];
  for (let i = 0; i < 5000; i++) lines.push(`${50000 + i},User ${i}`);
  const res = await importCsv(lines.join('\n'));
  assert.equal(res.statusCode, 200, res.body.slice(0, 500));
  assert.equal(res.json().created, 5000);
  assert.equal(pbx.extensions.get('54999')?.name, 'User 4999');
});

test('a big site is read a page at a time: limit, offset and q on /api/extensions and /api/registrations; /api/status counts without listing', async () => {
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${admin}` } });
  const total = pbx.extensions.count;
  assert.ok(total > 5000);
  const first = (await get('/api/extensions?limit=3')).json();
  assert.equal(first.total, total);
  assert.deepEqual(first.extensions.map((e: { number: string }) => e.number), ['301', '302', '303'], 'in numeric order');
  const later = (await get('/api/extensions?limit=2&offset=3')).json();
  assert.deepEqual(later.extensions.map((e: { number: string }) => e.number), ['310', '311']);
  const found = (await get('/api/extensions?q=5499&limit=20')).json();
  assert.equal(found.total, 10, '54990–54999');
  assert.equal(found.extensions[0].number, '54990');
  const byName = (await get('/api/extensions?q=user%204999')).json();
  assert.deepEqual(byName.extensions.map((e: { number: string }) => e.number), ['54999']);
  assert.equal((await get('/api/extensions?limit=0')).statusCode, 400, 'a bad page is refused');
  const regs = (await get('/api/registrations?limit=5')).json();
  assert.equal(regs.total, 0);
  const status = (await get('/api/status')).json();
  assert.equal(status.counts.extensions, total);
});

test('CLI: pbx ext import (FusionPBX columns) and its errors by file line; pbx ext export', async () => {
  const dir = tempDir();
  const file = writeConfig(dir, { port: await freePort(), sipPort: await freeSipPort() });
  const good = join(dir, 'fusion.csv');
  writeFileSync(good, 'extension,number_alias,password,effective_caller_id_name,voicemail_password,enabled\n401,,Kq7-fusion-secret-A,Sales,5829,true\n402,,Kq7-fusion-secret-B,Support,,false\n');
  const ok = await runCli(['ext', 'import', good, '--config', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /2 extension\(s\) created, 0 updated/);
  assert.match(ok.stderr, /Columns not imported: number_alias/);
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'extension,name\n403,Fine\nxyz,Broken\n');
  const refused = await runCli(['ext', 'import', bad, '--config', file]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /bad\.csv:3: number: number must be 2 to 10 digits/);
  const exported = await runCli(['ext', 'export', '--config', file]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /^401,Sales,true,,$/m);
  assert.match(exported.stdout, /^402,Support,false,,$/m);
  assert.doesNotMatch(exported.stdout, /^403,/m, 'the refused file changed nothing');
});

const importDevices = (csv: string, query = '') =>
  app.inject({ method: 'POST', url: `/api/provisioning/devices/import${query}`, payload: csv, headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' } });

test('devices: a FusionPBX export (vendor/model as one template) is imported; a bad row is named by its line and changes nothing; export reads back', async () => {
  assert.equal((await importCsv('extension\n301\n302\n303\n')).statusCode, 200, 'the lines\' extensions exist');
  const bad = await importDevices('device_mac_address,device_label,device_template,device_lines\n001565aa0001,Desk,yealink/T46S,301\n001565aa0002,Hall,nokia/3310,302\n0015zz,Odd,yealink/T46S,303\n001565aa0004,Ghost,yealink/T46S,9999\n');
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(
    (bad.json().errors as { line: number; field: string }[]).map((e) => [e.line, e.field]),
    [
      [3, 'vendor'],
      [4, 'mac_address'],
      [5, 'extension_number'],
    ],
  );
  assert.equal(pbx.devices.get('001565aa0001'), undefined, 'nothing was imported');
  const ok = await importDevices('device_mac_address,device_label,device_template,device_lines\n00:15:65:aa:00:01,Desk,yealink/T46S,301\n001565aa0002,Hall,yealink/T46S,302 303\n');
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().created, 2);
  assert.equal(ok.json().credentials.length, 2);
  assert.deepEqual(pbx.devices.get('001565aa0002')?.lines, ['302', '303']);
  const again = await importDevices('mac,label\n001565aa0001,Front desk\n');
  assert.equal(again.json().updated, 1);
  assert.equal(pbx.devices.get('001565aa0001')?.label, 'Front desk');
  assert.deepEqual(pbx.devices.get('001565aa0001')?.lines, ['301'], 'columns a row lacks stay as they were');
  const exported = await app.inject({ url: '/api/provisioning/devices/export', headers: { authorization: `Bearer ${admin}` } });
  assert.match(exported.body, /^mac,vendor,model,lines,label\n/);
  assert.match(exported.body, /^001565aa0002,yealink,T46S,302 303,Hall$/m);
});

test('devices are read a page at a time too: limit, offset, q by MAC in any form, by extension or by label; registrations by a list of extensions', async () => {
  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${admin}` } });
  const rows = ['mac,vendor,model,lines,label', ...Array.from({ length: 30 }, (_, i) => `001565bb${String(i).padStart(4, '0')},yealink,T46S,${50000 + i},Floor ${i}`)];
  assert.equal((await importDevices(rows.join('\n'))).statusCode, 200);
  const total = pbx.devices.list().length;
  const first = (await get('/api/provisioning/devices?limit=5')).json();
  assert.equal(first.total, total);
  assert.equal(first.devices.length, 5);
  const page2 = (await get('/api/provisioning/devices?limit=5&offset=5')).json();
  assert.notEqual(page2.devices[0].mac_address, first.devices[0].mac_address);
  assert.deepEqual(
    (await get('/api/provisioning/devices?q=00:15:65:BB:00:2')).json().devices.map((d: { mac_address: string }) => d.mac_address),
    ['001565bb0020', '001565bb0021', '001565bb0022', '001565bb0023', '001565bb0024', '001565bb0025', '001565bb0026', '001565bb0027', '001565bb0028', '001565bb0029'],
    'a MAC written with colons and capitals',
  );
  assert.deepEqual((await get('/api/provisioning/devices?q=50007')).json().devices.map((d: { lines: string[] }) => d.lines), [['50007']], 'by extension');
  assert.equal((await get('/api/provisioning/devices?q=floor%2013')).json().total, 1, 'by label');
  assert.equal((await get('/api/provisioning/devices')).json().devices.length, total, 'without limit: all');
  assert.equal((await get('/api/registrations?extensions=301,302')).statusCode, 200);
  assert.equal((await get('/api/registrations?extensions=301;drop')).statusCode, 400, 'a bad list is refused');
});
