// A request an HTTP worker served crosses to the primary as a note (JSON over the IPC
// channel), and the primary applies its side effects from it: the note must carry every
// field of the request's Fetch, resolve profiles, rules and devices back to the primary's
// own objects, and never carry the Authorization header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromNote, toNote, type Fetch } from '../../src/provisioning/fetch-outcomes.ts';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';
import type { Device } from '../../src/provisioning/devices.ts';

test('a fetch survives the trip to the primary, its Authorization header left behind', () => {
  const vendors = new VendorRegistry();
  const yealink = vendors.get('yealink')!;
  const polycom = vendors.get('polycom')!;
  const device = { mac: '001565000001' } as Device;
  const rule = yealink.files[yealink.files.length - 1]!;
  const full: Fetch = {
    req: { fileName: '001565000001.cfg', path: '/provision/001565000001.cfg', method: 'GET', ip: '192.0.2.7', userAgent: 'Yealink SIP-T46S 66.86.0.15', localPort: 8080, legacy: true, authorization: 'Digest username="x"', target: '/provision/001565000001.cfg?x=1', secure: true, keyed: false },
    outcome: 'delivered',
    status: 200,
    mac: '001565000001',
    vendor: yealink,
    model: 'T46S',
    device,
    rule,
    fromUa: { vendor: polycom, model: 'VVX 411', mac: '0004f2000001', firmware: '6.4.0' },
    how: 'digest',
    hash: 'abc',
    account: true,
    detail: 'why',
    extension: '1001',
    bytes: 12,
  };
  const wire = JSON.stringify(toNote(full, vendors.vendors));
  assert.doesNotMatch(wire, /Digest username/);
  const back = fromNote(JSON.parse(wire), (id) => vendors.get(id), (mac) => (mac === device.mac ? device : undefined));
  const { authorization: _left, ...req } = full.req;
  assert.deepEqual(back, { ...full, req });
  assert.equal(back.vendor, yealink, 'the primary’s own profile object');
  assert.equal(back.rule, rule, 'the same rule of the same profile');
  assert.equal(back.device, device);
  assert.equal(back.fromUa?.vendor, polycom);
});

test('a note with only the required fields comes back without invented ones', () => {
  const vendors = new VendorRegistry();
  const bare: Fetch = {
    req: { fileName: 'x.cfg', path: '/provision/x.cfg', method: 'GET', ip: '192.0.2.7', userAgent: null, localPort: 8080, legacy: false },
    outcome: 'unknown_file',
    status: 404,
    mac: null,
    vendor: undefined,
    model: undefined,
    device: undefined,
    rule: undefined,
    fromUa: undefined,
  };
  const back = fromNote(JSON.parse(JSON.stringify(toNote(bare, vendors.vendors))), (id) => vendors.get(id), () => undefined);
  assert.deepEqual(back, bare);
});
