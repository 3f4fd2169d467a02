// What one process tells the others about the rows it changed (PostgreSQL NOTIFY payloads)
// and how the reader adds up what it heard between two reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changePayloads, parseChange } from '../../src/storage/pg-changes.ts';
import { ChangeSet } from '../../src/storage/external-changes.ts';

test('keys split over payloads under PostgreSQL’s 8000-byte limit and read back whole', () => {
  const keys = Array.from({ length: 3000 }, (_, i) => `ext-${i}`);
  const payloads = changePayloads('registrations', keys);
  assert.ok(payloads.length > 1, 'more than one notification');
  for (const p of payloads) assert.ok(Buffer.byteLength(p) < 8000, `payload of ${Buffer.byteLength(p)} bytes`);
  const back = payloads.map(parseChange);
  for (const c of back) assert.equal(c.table, 'registrations');
  assert.deepEqual(back.flatMap((c) => c.keys ?? []), keys);
  // Multi-byte keys are measured in bytes, not characters.
  for (const p of changePayloads('registrations', Array.from({ length: 2000 }, (_, i) => `Zoë-${i}-☎☎☎`))) {
    assert.ok(Buffer.byteLength(p) < 8000);
  }
  assert.deepEqual(changePayloads('registrations', []), [], 'nothing changed: nothing to say');
});

test('a trigger’s payload (the table) and an empty one (anything) read as before', () => {
  assert.deepEqual(parseChange('extensions'), { table: 'extensions' });
  assert.deepEqual(parseChange(''), { table: null });
});

test('a change set: named rows add up, a whole-table change wins, everything answers no keys', () => {
  const c = new ChangeSet();
  assert.equal(c.has('registrations'), false);
  assert.equal(c.onlyAmong(['registrations']), true, 'nothing changed');
  c.add('registrations', ['1001']);
  c.add('registrations', ['1002', '1001']);
  assert.deepEqual([...(c.keys('registrations') ?? [])].sort(), ['1001', '1002']);
  assert.equal(c.onlyAmong(['registrations']), true);
  assert.equal(c.has('extensions'), false);

  c.add('extensions');
  assert.equal(c.has('extensions'), true);
  assert.equal(c.keys('extensions'), undefined, 'any extension may have changed');
  assert.equal(c.onlyAmong(['registrations']), false);

  c.add('registrations');
  c.add('registrations', ['1003']);
  assert.equal(c.keys('registrations'), undefined, 'a whole-table change is not narrowed again');

  const merged = new ChangeSet();
  merged.add('registrations', ['2001']);
  merged.merge(c);
  assert.equal(merged.keys('registrations'), undefined);
  assert.equal(merged.has('extensions'), true);

  const all = new ChangeSet();
  all.add('registrations', ['3001']);
  all.add(null);
  assert.equal(all.has('trunks'), true);
  assert.equal(all.keys('registrations'), undefined);
  assert.equal(all.onlyAmong(['registrations']), false);
});
