// The file rules each profile builds from vendors/shared.ts agree with the profile's own
// names: every file of a boot sequence is this vendor's, device names give back their MAC,
// common names give back their model, and only per-device files may carry secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMac } from '../../src/util/mac.ts';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';

const registry = new VendorRegistry();
const MAC = '0015650a1b2c';

test('every boot-sequence file of every model matches its own vendor, with its MAC or its model', () => {
  for (const vendor of registry.vendors) {
    const mac = formatMac(MAC, vendor.macForm);
    for (const model of vendor.models) {
      for (const name of vendor.bootSequence(model, mac)) {
        const own = registry.matchFile(name).filter((m) => m.vendor.id === vendor.id);
        assert.equal(own.length, 1, `${vendor.id} ${model.id}: ${name} matches ${own.length} of its rules`);
        const { rule, match } = own[0]!;
        if (rule.kind === 'device') assert.equal(match.groups?.mac?.toLowerCase(), MAC, name);
        else assert.ok(rule.modelsFromMatch?.(match).includes(model.id), `${name} names ${model.id}`);
      }
    }
  }
});

test("each vendor's account file is a secret-carrying device rule of its own; no common rule carries secrets", () => {
  for (const vendor of registry.vendors) {
    const name = vendor.deviceFile(formatMac(MAC, vendor.macForm));
    const own = registry.matchFile(name).filter((m) => m.vendor.id === vendor.id);
    assert.equal(own.length, 1, name);
    assert.equal(own[0]!.rule.kind, 'device', name);
    assert.equal(own[0]!.rule.sensitive, true, name);
    for (const rule of vendor.files) if (rule.kind === 'common') assert.equal(rule.sensitive, false, `${vendor.id} ${rule.template}`);
  }
});

test('file names are matched literally and whole, in any case', () => {
  const match = (name: string) => registry.matchFile(name).map((m) => `${m.vendor.id}:${m.rule.template}`);
  assert.deepEqual(match('SPA504G.CFG'), ['cisco:spa.cfg.liquid']);
  assert.deepEqual(match('spa504gxcfg'), []); // the dot is not "any character"
  assert.deepEqual(match('f0X4Uhw1x100.cfg'), []);
  assert.deepEqual(match('xspa504G.cfg'), []);
  assert.deepEqual(match('CFGGXP2170.XML'), ['grandstream:cfgmodel.xml.liquid']);
  assert.deepEqual(match('snomD785-000413AABBCC.htm'), ['snom:mac.xml.liquid']);
  assert.deepEqual(match('snomD999-000413AABBCC.htm'), []);
  assert.deepEqual(match('0015650a1b2.cfg'), []);
  // Names of models not listed still reach the generic common file where the vendor has one.
  const y99 = registry.matchFile('y000000000099.cfg');
  assert.deepEqual(y99.map((m) => [m.vendor.id, m.rule.modelsFromMatch?.(m.match)]), [['yealink', []]]);
});
