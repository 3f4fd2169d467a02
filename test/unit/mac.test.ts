import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMac, normalizeMac } from '../../src/util/mac.ts';

test('normalizeMac accepts every common form and stores 12 lowercase hex digits', () => {
  for (const input of ['68:79:09:9b:e7:68', '68-79-09-9B-E7-68', '6879.099b.e768', '6879099be768', '6879099BE768', ' 68:79:09:9B:E7:68 ']) {
    assert.equal(normalizeMac(input), '6879099be768', input);
  }
});

test('normalizeMac refuses malformed input', () => {
  for (const input of ['', '6879099be76', '6879099be7681', '68:79:09:9b:e7', '68:79-09:9b:e7:68', 'gg79099be768', '000000000000', 'ff:ff:ff:ff:ff:ff', '{mac}']) {
    assert.equal(normalizeMac(input), null, input);
  }
});

test('formatMac renders vendor forms', () => {
  assert.equal(formatMac('6879099be768', 'upper'), '6879099BE768');
  assert.equal(formatMac('6879099be768', 'colon'), '68:79:09:9b:e7:68');
  assert.equal(formatMac('6879099be768', 'colon-upper'), '68:79:09:9B:E7:68');
});
