// Outbound dialling: FreePBX-style dial patterns (X Z N [..] . !, prefix|match,
// prepend+), and a dialled number's E.164 form and class from the site's numbering plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDialPattern, DialPatternError, parseDialPattern } from '../../src/util/dial-pattern.ts';
import { classAllows, classifyNumber, toE164, type NumberingPlan } from '../../src/pbx/trunks/numbering.ts';
import { upFirst } from '../../src/pbx/trunks/outbound.ts';

const apply = (pattern: string, dialled: string) => applyDialPattern(parseDialPattern(pattern), dialled);

test('dial patterns match as FreePBX admins expect', () => {
  assert.equal(apply('NXXNXXXXXX', '2125551234'), '2125551234');
  assert.equal(apply('NXXNXXXXXX', '1125551234'), null, 'N is 2–9');
  assert.equal(apply('NXXNXXXXXX', '212555123'), null, 'too short');
  assert.equal(apply('1NXXNXXXXXX', '12125551234'), '12125551234');
  assert.equal(apply('ZXX', '100'), '100');
  assert.equal(apply('ZXX', '010'), null, 'Z is 1–9');
  assert.equal(apply('[1-5]XX', '599'), '599');
  assert.equal(apply('[1-5]XX', '699'), null);
  assert.equal(apply('[1237-9]', '8'), '8');
  assert.equal(apply('[1237-9]', '5'), null);
  assert.equal(apply('011.', '01144207946000'), '01144207946000');
  assert.equal(apply('011.', '011'), null, '. is one or more');
  assert.equal(apply('011!', '011'), '011', '! is zero or more');
  assert.equal(apply('*XX', '*72'), '*72');
  assert.equal(apply('+.', '+442079460000'), '+442079460000', 'a leading + is dialled');
  assert.equal(apply('nxxnxxxxxx', '2125551234'), '2125551234', 'letters in either case');
});

test('prefix|match strips the prefix; prepend+ adds digits in front', () => {
  assert.equal(apply('9|NXXNXXXXXX', '92125551234'), '2125551234');
  assert.equal(apply('9|NXXNXXXXXX', '2125551234'), null, 'the prefix must be dialled');
  assert.equal(apply('1+NXXNXXXXXX', '2125551234'), '12125551234');
  assert.equal(apply('44+0|Z.', '02079460000'), '442079460000');
  assert.equal(apply('00|+.', '00+4420'), '+4420');
});

test('bad patterns are refused with what is wrong', () => {
  for (const [p, why] of [
    ['', /empty/],
    ['9|', /nothing to match/],
    ['NX[1-', /not closed/],
    ['[a-c]X', /digits or ranges/],
    ['[5-1]', /runs backwards/],
    ['NXXQ', /"Q" at position 4/],
    ['9|8|7', /more than one/],
    ['x9+|X', /prefix/],
  ] as const) {
    assert.throws(() => parseDialPattern(p), (e: unknown) => e instanceof DialPatternError && why.test(e.message), `${p}`);
  }
});

const NANP: NumberingPlan = { countryCode: '1', areaCode: '212', nationalPrefix: '1', internationalPrefix: '011', nationalLength: 10, emergencyNumbers: ['911', '112'] };
const UK: NumberingPlan = { countryCode: '44', areaCode: '20', nationalPrefix: '0', internationalPrefix: '00', nationalLength: null, emergencyNumbers: ['999', '112'] };

test('numbers take their E.164 form from the site\'s plan', () => {
  assert.equal(toE164('2125551234', NANP), '+12125551234', 'ten digits in NANP');
  assert.equal(toE164('13125551234', NANP), '+13125551234', '1 + ten digits');
  assert.equal(toE164('5551234', NANP), '+12125551234', 'seven digits: the site\'s area');
  assert.equal(toE164('011442079460000', NANP), '+442079460000');
  assert.equal(toE164('+442079460000', NANP), '+442079460000');
  assert.equal(toE164('02079460000', UK), '+442079460000');
  assert.equal(toE164('0033142685300', UK), '+33142685300');
  assert.equal(toE164('79460000', UK), '+442079460000');
  assert.equal(toE164('+1234567890123456', NANP), null, 'more than 15 digits is no E.164 number');
  assert.equal(toE164('*72', NANP), null);
});

test('classes: emergency, local, national, international; what an extension\'s class of service allows', () => {
  assert.deepEqual(classifyNumber('911', NANP), { e164: null, class: 'emergency' });
  assert.deepEqual(classifyNumber('112', UK), { e164: null, class: 'emergency' });
  assert.equal(classifyNumber('5551234', NANP).class, 'local');
  assert.equal(classifyNumber('2125551234', NANP).class, 'local');
  assert.equal(classifyNumber('3125551234', NANP).class, 'national');
  assert.equal(classifyNumber('011442079460000', NANP).class, 'international');
  assert.equal(classifyNumber('+12125551234', UK).class, 'international');
  assert.equal(classifyNumber('01612345678', UK).class, 'national');
  assert.equal(classifyNumber('411', NANP).class, 'local', 'a short code');
  assert.equal(classifyNumber('9999999999999999999', NANP).class, 'international', 'what cannot be placed counts as the dearest');
  assert.equal(classAllows('national', 'local'), true);
  assert.equal(classAllows('national', 'national'), true);
  assert.equal(classAllows('national', 'international'), false);
  assert.equal(classAllows('internal', 'local'), false);
  assert.equal(classAllows('internal', 'emergency'), true, 'emergency numbers always go out');
});

test('a trunk whose provider stopped answering OPTIONS is tried last, not dropped; the order of the others stays', () => {
  const trunks = [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }];
  const down = new Set(['a', 'c']);
  assert.deepEqual(upFirst(trunks, (n) => down.has(n)).map((t) => t.name), ['b', 'd', 'a', 'c']);
  assert.deepEqual(upFirst(trunks, () => true).map((t) => t.name), ['a', 'b', 'c', 'd'], 'all down: all still tried, in order');
});
