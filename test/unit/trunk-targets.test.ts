// Where a trunk's requests go: outbound proxy, literal address, fixed port, SRV by
// priority and weight (RFC 2782), no SRV → the host on the default port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bySrvOrder, providerFault, trunkDomain, trunkTargets, type Resolver } from '../../src/pbx/trunks/targets.ts';
import type { Trunk } from '../../src/pbx/trunks/store.ts';

const base = { host: 'sip.example.com', port: null, transport: 'udp', outboundProxy: null } as unknown as Trunk;
const dns = (srv: Record<string, { name: string; port: number; priority: number; weight: number }[]>, a: Record<string, string[]>): Resolver => ({
  lookup: async (h) => {
    if (!a[h]) throw new Error(`ENOTFOUND ${h}`);
    return a[h]!;
  },
  srv: async (n) => {
    if (!srv[n]) throw new Error(`ENODATA ${n}`);
    return srv[n]!;
  },
});

test('SRV targets go by priority, each one\'s addresses in turn; a target that does not resolve is skipped', async () => {
  const r = dns(
    { '_sip._udp.sip.example.com': [{ name: 'b.example.com', port: 5070, priority: 20, weight: 0 }, { name: 'a.example.com', port: 5060, priority: 10, weight: 0 }, { name: 'gone.example.com', port: 5060, priority: 15, weight: 0 }] },
    { 'a.example.com': ['192.0.2.1', '192.0.2.2'], 'b.example.com': ['198.51.100.7'] },
  );
  assert.deepEqual(await trunkTargets(base, r), [
    { transport: 'udp', address: '192.0.2.1', port: 5060 },
    { transport: 'udp', address: '192.0.2.2', port: 5060 },
    { transport: 'udp', address: '198.51.100.7', port: 5070 },
  ]);
});

test('no SRV: the host\'s addresses on 5060 (5061 with TLS, asked as _sips._tcp); a fixed port or a literal skips SRV; an outbound proxy wins', async () => {
  const r = dns({ '_sips._tcp.sip.example.com': [{ name: 'tls.example.com', port: 5081, priority: 1, weight: 1 }] }, { 'sip.example.com': ['192.0.2.9'], 'tls.example.com': ['192.0.2.10'], 'proxy.example.com': ['203.0.113.5'] });
  assert.deepEqual(await trunkTargets(base, r), [{ transport: 'udp', address: '192.0.2.9', port: 5060 }]);
  assert.deepEqual(await trunkTargets({ ...base, transport: 'tls' }, r), [{ transport: 'tls', address: '192.0.2.10', port: 5081 }]);
  assert.deepEqual(await trunkTargets({ ...base, port: 5099 }, r), [{ transport: 'udp', address: '192.0.2.9', port: 5099 }]);
  assert.deepEqual(await trunkTargets({ ...base, host: '198.51.100.1' }, r), [{ transport: 'udp', address: '198.51.100.1', port: 5060 }]);
  assert.deepEqual(await trunkTargets({ ...base, outboundProxy: 'proxy.example.com:5080' }, r), [{ transport: 'udp', address: '203.0.113.5', port: 5080 }]);
});

test('within one priority, SRV weight decides the odds (RFC 2782)', () => {
  const records = [{ name: 'heavy', priority: 1, weight: 90 }, { name: 'light', priority: 1, weight: 10 }, { name: 'backup', priority: 2, weight: 100 }];
  let heavyFirst = 0;
  for (let i = 0; i < 1000; i++) {
    const order = bySrvOrder(records).map((r) => r.name);
    assert.equal(order[2], 'backup', 'the higher priority value always comes last');
    if (order[0] === 'heavy') heavyFirst++;
  }
  assert.ok(heavyFirst > 830 && heavyFirst < 960, `heavy first ${heavyFirst} times in 1000 (expected about 900)`);
});

test('the domain requests name: a literal address keeps its fixed port (IPv6 in brackets); a host name or an outbound proxy does not', () => {
  assert.equal(trunkDomain({ ...base, host: '192.0.2.1', port: 5070 }), '192.0.2.1:5070');
  assert.equal(trunkDomain({ ...base, host: '2001:db8::1', port: 5070 }), '[2001:db8::1]:5070');
  assert.equal(trunkDomain({ ...base, host: '2001:db8::1' }), '[2001:db8::1]');
  assert.equal(trunkDomain({ ...base, port: 5070 }), 'sip.example.com');
  assert.equal(trunkDomain({ ...base, host: '192.0.2.1', port: 5070, outboundProxy: 'proxy.example.com' }), '192.0.2.1');
});

test('a timeout or a 5xx blames the provider (try the next one); a 4xx or 6xx is about the call', () => {
  for (const s of [408, 500, 503, 504]) assert.equal(providerFault(s), true, String(s));
  for (const s of [403, 404, 486, 600, 603]) assert.equal(providerFault(s), false, String(s));
});
