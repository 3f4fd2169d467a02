// The provisioning side of TFTP without a process: which file a TFTP path names, how
// HTTP-style answers become TFTP errors, where the listener goes, and the config checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from '../../src/config/load.ts';
import { tftpAddress, tftpAnswer, tftpFileName } from '../../src/provisioning/tftp.ts';

test('a TFTP path names its last segment, with or without a slash or folder', () => {
  assert.equal(tftpFileName('001565aabbcc.cfg'), '001565aabbcc.cfg');
  assert.equal(tftpFileName('/001565aabbcc.cfg'), '001565aabbcc.cfg');
  assert.equal(tftpFileName('/provision/spa504G.cfg'), 'spa504G.cfg');
  assert.equal(tftpFileName('provision\\cfg001565aabbcc.xml'), 'cfg001565aabbcc.xml');
  assert.equal(tftpFileName('/provision/'), '');
});

test('answers: 200 is the file, 401/403 access violation, 404 not found, 400 and others ERROR 0 with a message', () => {
  assert.deepEqual(tftpAnswer(200, 'x=1\n', 'a.cfg'), { status: 'ok', body: 'x=1\n' });
  const auth = tftpAnswer(401, undefined, 'a.cfg');
  assert.ok(auth.status === 'error' && auth.code === 2 && /TFTP cannot carry/.test(auth.message));
  assert.deepEqual(tftpAnswer(403, undefined, 'a.cfg'), { status: 'error', code: 2, message: 'Access violation' });
  assert.deepEqual(tftpAnswer(404, undefined, 'a.cfg'), { status: 'error', code: 1, message: 'File not found' });
  const bad = tftpAnswer(400, undefined, '{mac}.cfg');
  assert.ok(bad.status === 'error' && bad.code === 0 && /Bad request: \{mac\}\.cfg/.test(bad.message));
  const err = tftpAnswer(500, undefined, 'a.cfg');
  assert.ok(err.status === 'error' && err.code === 0);
});

test('provisioning.tftp_port: off by default, tftp_host defaults to api.host, and it may not take the SIP port', () => {
  const off = parseConfigText('', '/etc/pbx/config.yml');
  assert.equal(off.provisioning.tftp_port, 0);
  assert.equal(tftpAddress(off), null);
  const on = parseConfigText('api:\n  host: 192.0.2.10\nprovisioning:\n  tftp_port: 69\n', '/etc/pbx/config.yml');
  assert.deepEqual(tftpAddress(on), { host: '192.0.2.10', port: 69 });
  const v6 = parseConfigText('provisioning:\n  tftp_port: 69\n  tftp_host: "::"\n', '/etc/pbx/config.yml');
  assert.deepEqual(tftpAddress(v6), { host: '::', port: 69 });
  assert.throws(
    () => parseConfigText('provisioning:\n  tftp_port: 5060\n', '/etc/pbx/config.yml'),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'provisioning.tftp_port' && /server\.sip_port/.test(i.message)),
  );
  assert.throws(() => parseConfigText('provisioning:\n  tftp_host: "not an address"\n', '/etc/pbx/config.yml'), ConfigError);
});
