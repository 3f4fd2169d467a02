import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/load.ts';
import { deriveConfigUrl, provisioningEndpoint } from '../../src/provisioning/config-url.ts';

const cfg = (yaml: string) => parseConfigText(yaml, '/etc/pbx/config.yml');

test('the config URL uses the configured port and external IP', () => {
  const c = cfg('server:\n  external_ip: 192.168.1.14\napi:\n  port: 9000\n');
  assert.equal(deriveConfigUrl(c, 'aabbccddeeff', 'lower'), 'http://192.168.1.14:9000/provision/aabbccddeeff.cfg');
});

test('url_format placeholders {{SERVER_IP}}, {{PORT}}, {mac} and $mac are all filled', () => {
  const c = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 9000\nprovisioning:\n  url_format: "http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg"\n');
  assert.equal(deriveConfigUrl(c, 'aabbccddeeff', 'lower'), 'http://10.0.0.5:9000/provision/aabbccddeeff.cfg');
  const d = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 9000\nprovisioning:\n  url_format: "http://{{ SERVER_IP }}:{{PORT}}/provision/$mac.xml"\n');
  assert.equal(deriveConfigUrl(d, 'aabbccddeeff', 'upper'), 'http://10.0.0.5:9000/provision/AABBCCDDEEFF.xml');
});

test('the scheme follows the listener that serves provisioning', () => {
  const c = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 8443\n  ssl: { enabled: true, cert_file: c.pem, key_file: k.pem }\n');
  assert.equal(deriveConfigUrl(c, 'aabbccddeeff', 'lower'), 'https://10.0.0.5:8443/provision/aabbccddeeff.cfg');
  assert.equal(provisioningEndpoint(c).baseUrl, 'https://10.0.0.5:8443/provision');
});

test('an IPv6 external address is bracketed', () => {
  const c = cfg('server:\n  external_ip: "fd00::5"\n');
  assert.equal(deriveConfigUrl(c, 'aabbccddeeff', 'lower'), 'http://[fd00::5]:8080/provision/aabbccddeeff.cfg');
  assert.equal(provisioningEndpoint(c).baseUrl, 'http://[fd00::5]:8080/provision');
});

test('with provisioning.http_port, URLs use plain HTTP on that port even when the API is HTTPS', () => {
  const c = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 8443\n  ssl: { enabled: true, cert_file: c.pem, key_file: k.pem }\nprovisioning:\n  http_port: 8088\n');
  assert.equal(deriveConfigUrl(c, 'aabbccddeeff', 'lower'), 'http://10.0.0.5:8088/provision/aabbccddeeff.cfg');
  assert.equal(provisioningEndpoint(c).baseUrl, 'http://10.0.0.5:8088/provision');
});

test('each device may be assigned a listener: its URL takes that scheme and port', async () => {
  const { listenerProblem } = await import('../../src/provisioning/config-url.ts');
  // HTTPS API on 8443 with a plain-HTTP provisioning listener on 8080.
  const both = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 8443\n  ssl: { enabled: true, cert_file: c.pem, key_file: k.pem }\nprovisioning:\n  http_port: 8080\n');
  assert.equal(deriveConfigUrl(both, 'aabbccddeeff', 'lower'), 'http://10.0.0.5:8080/provision/aabbccddeeff.cfg', 'default: the plain listener');
  assert.equal(deriveConfigUrl(both, 'aabbccddeeff', 'lower', 'http'), 'http://10.0.0.5:8080/provision/aabbccddeeff.cfg');
  assert.equal(deriveConfigUrl(both, 'aabbccddeeff', 'lower', 'https'), 'https://10.0.0.5:8443/provision/aabbccddeeff.cfg', 'a phone that validates the certificate');
  assert.equal(provisioningEndpoint(both, 'https').baseUrl, 'https://10.0.0.5:8443/provision');
  assert.equal(listenerProblem(both, 'http'), null);
  assert.equal(listenerProblem(both, 'https'), null);
  // Plain API, no TLS anywhere: https is not possible.
  const plain = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 9000\n');
  assert.match(listenerProblem(plain, 'https')!, /no HTTPS listener/);
  assert.equal(deriveConfigUrl(plain, 'aabbccddeeff', 'lower', 'https'), 'http://10.0.0.5:9000/provision/aabbccddeeff.cfg', 'falls back to what exists');
  // HTTPS API without a plain listener: http is not possible.
  const tlsOnly = cfg('server:\n  external_ip: 10.0.0.5\napi:\n  port: 8443\n  ssl: { enabled: true, cert_file: c.pem, key_file: k.pem }\n');
  assert.match(listenerProblem(tlsOnly, 'http')!, /no plain-HTTP listener/);
});
