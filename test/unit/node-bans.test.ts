import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { announceBans, holdOtherNodesBans, type SharedGuard } from '../../src/pbx/node-bans.ts';

const log = pino({ level: 'silent' });

function recording(): SharedGuard & { held: [string, number][]; ban?: (ip: string, until: number) => void } {
  const g: SharedGuard & { held: [string, number][]; ban?: (ip: string, until: number) => void } = {
    held: [],
    onOwnBan: (announce) => (g.ban = announce),
    hold: (ip, until) => g.held.push([ip, until]),
  };
  return g;
}

test("another node's announcements are held by the guard they name; expired, malformed and unknown ones are skipped", () => {
  const sip = recording();
  const provisioning = recording();
  const until = Date.now() + 60_000;
  holdOtherNodesBans([`sip 198.51.100.7 ${until}`, `provisioning 2001:db8::7 ${until}`, `sip 198.51.100.8 ${Date.now() - 1}`, 'sip 198.51.100.9', `tftp 198.51.100.10 ${until}`, ''], { sip, provisioning }, log);
  assert.deepEqual(sip.held, [['198.51.100.7', until]]);
  assert.deepEqual(provisioning.held, [['2001:db8::7', until]]);
  holdOtherNodesBans(undefined, { sip, provisioning }, log);
  assert.equal(sip.held.length, 1, 'no keys: nothing named');
});

test('a ban made here is announced as "<guard> <address> <until>"; without PostgreSQL (no announce) nothing is hooked', async () => {
  const sent: [string, string[]][] = [];
  const sip = recording();
  announceBans({ db: {} as never, announce: async (_db, table, keys) => void sent.push([table, [...keys]]) }, { sip }, log);
  sip.ban!('198.51.100.7', 1234);
  assert.deepEqual(sent, [['bans', ['sip 198.51.100.7 1234']]]);
  const alone = recording();
  announceBans({ db: {} as never }, { sip: alone }, log);
  assert.equal(alone.ban, undefined);
});
