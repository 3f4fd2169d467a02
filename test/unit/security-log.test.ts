// The security log's lines: each in the documented format, in the order written, the lines
// of one turn of the event loop appended together, and nothing lost at close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecurityLog } from '../../src/security/security-log.ts';
import { tempDir } from '../helpers/server.ts';

const LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z pbx-security event=(\S+) ip=(\S+)(.*)$/;

test('lines of one turn go out together, in order; later turns append; close writes what is pending', async () => {
  const file = join(tempDir(), 'log', 'security.log');
  const log = new SecurityLog(() => file);
  for (let i = 0; i < 3; i++) log.write('auth-failure', { ip: `192.0.2.${i}`, user: `10${i}` });
  assert.equal(existsSync(file), false, 'nothing is written before the turn ends');
  await new Promise((r) => setImmediate(r));
  log.write('ban', { ip: '192.0.2.9', reason: 'too many failures', seconds: 600 });
  await log.close();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => LINE.exec(l)?.slice(1, 4)),
    [
      ['auth-failure', '192.0.2.0', ' user=100'],
      ['auth-failure', '192.0.2.1', ' user=101'],
      ['auth-failure', '192.0.2.2', ' user=102'],
      ['ban', '192.0.2.9', ' reason=too_many_failures seconds=600'],
    ],
  );
});

test('with no file configured nothing is kept or written', async () => {
  const log = new SecurityLog(() => '');
  log.write('unknown-device', { ip: '192.0.2.1', mac: '001565000001' });
  await log.close();
  assert.equal((log as unknown as { pending: string[] }).pending.length, 0);
});
