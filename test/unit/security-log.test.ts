// The security log's lines: each in the documented format, in the order written, written
// within moments while the server is quiet, and nothing lost at close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SecurityLog } from '../../src/security/security-log.ts';
import { tempDir } from '../helpers/server.ts';

const LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z pbx-security event=(\S+) ip=(\S+)(.*)$/;
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

test("lines go out in order, a quiet server's within moments, and close writes what is pending", async () => {
  const file = join(tempDir(), 'log', 'security.log');
  const log = new SecurityLog(() => file);
  for (let i = 0; i < 3; i++) log.write('auth-failure', { ip: `192.0.2.${i}`, user: `10${i}` });
  // No close: a fail2ban watching the file sees the lines without the server stopping.
  const deadline = Date.now() + 2000;
  while (read(file).split('\n').length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(read(file).trimEnd().split('\n').length, 3, 'written within 2 s without a close');
  assert.equal(statSync(file).mode & 0o777, 0o640, 'not readable by everyone');
  log.write('ban', { ip: '192.0.2.9', reason: 'too many failures', seconds: 600 });
  log.write('sensitive-fetch', { ip: '192.0.2.10', mac: '001565000001', file: 'café ✓.cfg' });
  await log.close();
  const lines = read(file).trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => LINE.exec(l)?.slice(1, 4)),
    [
      ['auth-failure', '192.0.2.0', ' user=100'],
      ['auth-failure', '192.0.2.1', ' user=101'],
      ['auth-failure', '192.0.2.2', ' user=102'],
      ['ban', '192.0.2.9', ' reason=too_many_failures seconds=600'],
      ['sensitive-fetch', '192.0.2.10', ' mac=001565000001 file=café_✓.cfg'],
    ],
  );
});

test("a busy server's many lines all arrive, whole and in order", async () => {
  const file = join(tempDir(), 'security.log');
  const log = new SecurityLog(() => file);
  for (let i = 0; i < 20_000; i++) log.write('sensitive-fetch', { ip: '192.0.2.1', mac: `0015650${(0x100000 + i).toString(16).slice(1)}`, n: i });
  await log.close();
  const lines = read(file).trimEnd().split('\n');
  assert.equal(lines.length, 20_000);
  lines.forEach((l, i) => assert.ok(l.endsWith(` n=${i}`) && LINE.test(l), `line ${i}: ${l}`));
});

test('a file that cannot be opened is reported, and neither writing nor closing fails', async () => {
  const dir = tempDir();
  const blocker = join(dir, 'not-a-folder');
  (await import('node:fs')).writeFileSync(blocker, 'x');
  const log = new SecurityLog(() => join(blocker, 'security.log'));
  const reported: string[] = [];
  const stderrWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => (reported.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    log.write('ban', { ip: '192.0.2.1', reason: 'x' });
    await new Promise((r) => setTimeout(r, 200));
    log.write('ban', { ip: '192.0.2.2', reason: 'y' });
    await log.close();
  } finally {
    process.stderr.write = stderrWrite;
  }
  assert.ok(reported.some((l) => l.includes('security log') && l.includes('not-a-folder')), reported.join(''));
});

test('with no file configured nothing is kept or written', async () => {
  const log = new SecurityLog(() => '');
  log.write('unknown-device', { ip: '192.0.2.1', mac: '001565000001' });
  await log.close();
  assert.equal((log as unknown as { out: unknown }).out, undefined, 'no file opened');
});
