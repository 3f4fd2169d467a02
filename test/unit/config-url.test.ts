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
