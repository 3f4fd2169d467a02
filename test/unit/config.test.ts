import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT, writeDefaultConfig } from '../../src/config/default-file.ts';
import { tempDir } from '../helpers/server.ts';

function issuesOf(text: string) {
  try {
    parseConfigText(text, '/etc/pbx/config.yml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail('expected the config to be refused');
}

test('an empty file gets every default', () => {
  const c = parseConfigText('', '/etc/pbx/config.yml');
  assert.equal(c.api.port, 8080);
  assert.equal(c.api.host, '0.0.0.0');
  assert.equal(c.server.sip_port, 5060);
  assert.equal(c.provisioning.url_format, 'http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg');
  assert.equal(c.database.type, 'sqlite');
  assert.equal(c.database.path, '/etc/pbx/data/pbx.db', 'relative paths resolve against the config file folder');
});

test('the generated default config file is valid and equals the built-in defaults', () => {
  const fromFile = parseConfigText(DEFAULT_CONFIG_TEXT, '/etc/pbx/config.yml');
  assert.deepEqual(fromFile, parseConfigText('', '/etc/pbx/config.yml'));
});

test('a wrong type names the key path, the line and what is expected', () => {
  const [issue, ...rest] = issuesOf('server:\n  external_ip: 10.0.0.5\napi:\n  port: "eighty"\n');
  assert.equal(rest.length, 0);
  assert.equal(issue!.path, 'api.port');
  assert.equal(issue!.line, 4);
  assert.match(issue!.message, /expected integer/);
  assert.match(issue!.message, /eighty/);
});

test('an out-of-range port is refused', () => {
  const [issue] = issuesOf('api:\n  port: 70000\n');
  assert.equal(issue!.path, 'api.port');
  assert.match(issue!.message, /<= 65535/);
});

test('an unknown key is refused with a suggestion', () => {
  const [issue] = issuesOf('api:\n  host: 0.0.0.0\n  prot: 9000\n');
  assert.equal(issue!.path, 'api.prot');
  assert.equal(issue!.line, 3);
  assert.match(issue!.message, /unknown key "prot".*did you mean "port"/);
});

test('bad YAML is reported with its line', () => {
  const [issue] = issuesOf('server:\n  name: pbx\n   bad: [indent\n');
  assert.match(issue!.message, /YAML syntax error/);
  assert.ok(issue!.line! >= 2, `line ${issue!.line}`);
});

test('an enum value lists the allowed ones', () => {
  const [issue] = issuesOf('database:\n  type: mysql\n');
  assert.equal(issue!.path, 'database.type');
  assert.match(issue!.message, /sqlite, postgresql/);
});

test('semantic checks: url_format, time zone, ssl files', () => {
  assert.equal(issuesOf('provisioning:\n  url_format: ftp://x/{mac}\n')[0]!.path, 'provisioning.url_format');
  assert.equal(issuesOf('provisioning:\n  site:\n    timezone: Mars/Olympus\n')[0]!.path, 'provisioning.site.timezone');
  assert.equal(issuesOf('api:\n  ssl:\n    enabled: true\n')[0]!.path, 'api.ssl');
});

test('pre-configured devices are validated entry by entry', () => {
  const [issue] = issuesOf('provisioning:\n  devices:\n    - { mac: "00:15:65:00:00:01", extension: "1001", vendor: yealink }\n');
  assert.equal(issue!.path, 'provisioning.devices.0.model');
  assert.match(issue!.message, /required/);
});

test('loadConfigFile reports the file it read', () => {
  const dir = tempDir();
  const file = join(dir, 'config.yml');
  writeFileSync(file, 'api:\n  port: 9000\n');
  const loaded = loadConfigFile(file);
  assert.equal(loaded.file, file);
  assert.equal(loaded.config.api.port, 9000);
  assert.throws(() => loadConfigFile(join(dir, 'missing.yml')), /cannot read file/);
});

test('docs/CONFIG.md documents every config key', async () => {
  const { readFileSync } = await import('node:fs');
  const { ConfigSchema } = await import('../../src/config/schema.ts');
  const doc = readFileSync(new URL('../../docs/CONFIG.md', import.meta.url), 'utf8');
  const keys: string[] = [];
  const walk = (schema: any, prefix: string) => {
    for (const [k, v] of Object.entries<any>(schema.properties ?? {})) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (v.type === 'object' && v.properties) walk(v, path);
      else keys.push(path);
    }
  };
  walk(ConfigSchema, '');
  assert.ok(keys.length > 20);
  for (const key of keys) assert.ok(doc.includes('`' + key + '`'), `docs/CONFIG.md lacks ${key}`);
});

test('the default file written at first start carries the host\'s LAN address for phones', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'pbx-default-'));
  assert.equal(writeDefaultConfig(join(dir, 'a.yml'), '192.168.10.5'), true);
  const text = readFileSync(join(dir, 'a.yml'), 'utf8');
  assert.equal(parseConfigText(text, join(dir, 'a.yml')).server.external_ip, '192.168.10.5');
  assert.match(text, /# Detected when this file was written/);
  assert.equal(writeDefaultConfig(join(dir, 'a.yml'), '10.0.0.1'), false, 'an existing file is never overwritten');
  assert.equal(writeDefaultConfig(join(dir, 'b.yml'), null), true);
  assert.equal(parseConfigText(readFileSync(join(dir, 'b.yml'), 'utf8'), join(dir, 'b.yml')).server.external_ip, '127.0.0.1', 'no LAN address: loopback');
});

test('a media port range too small for one RTP/RTCP pair is refused at the key, with the line', () => {
  const issues = issuesOf('media:\n  rtp_port_min: 30000\n  rtp_port_max: 30001\n');
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.path, 'media.rtp_port_max');
  assert.equal(issues[0]!.line, 3);
  assert.match(issues[0]!.message, /at least 3 above media\.rtp_port_min \(30000\).*found 30001/);
  assert.equal(parseConfigText('media:\n  rtp_port_min: 30000\n  rtp_port_max: 30003\n', '/etc/pbx/config.yml').media.rtp_port_max, 30003);
});

test('one indentation mistake is reported once, near its line, with how many errors follow from it', () => {
  const text = 'server:\n  external_ip: 10.0.0.5\n   sip_port: 5060\n  sip_host: 0.0.0.0\napi:\n  port: 8080\n';
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, JSON.stringify(issues));
  assert.ok(issues[0]!.line === 2 || issues[0]!.line === 3, `line ${issues[0]!.line}`);
  assert.match(issues[0]!.message, /^YAML syntax error: .* \(and 1 more YAML error after it, most likely caused by this one: check the indentation here first\)$/);
});

test('inbound routes: a destination that is not extension:, voicemail:, announcement: is refused with its path and line', () => {
  const [issue, ...rest] = issuesOf('dialplan:\n  inbound_routes:\n    - did: "5551230001"\n      destination: ring-group:7\n');
  assert.equal(rest.length, 0);
  assert.equal(issue!.path, 'dialplan.inbound_routes.0.destination');
  assert.equal(issue!.line, 4);
  assert.equal(issuesOf('dialplan:\n  inbound_default: "extension:"\n')[0]!.path, 'dialplan.inbound_default');
  assert.equal(issuesOf('dialplan:\n  inbound_routes:\n    - did: "555-1234"\n      destination: extension:100\n')[0]!.path, 'dialplan.inbound_routes.0.did');
  const ok = parseConfigText('dialplan:\n  inbound_routes:\n    - did: "+15551230001"\n      trunk: carrier\n      destination: announcement:closed\n  inbound_default: voicemail:100\n', '/etc/pbx/config.yml');
  assert.equal(ok.dialplan.inbound_routes[0]!.destination, 'announcement:closed');
  assert.equal(ok.dialplan.inbound_default, 'voicemail:100');
});
