// Random values from the pool: the length asked for, never handed out twice (across the
// pool's refills too), and no more than the pool holds at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBase64url } from '../../src/util/random-pool.ts';

test('pooled random values have the length asked for, never repeat across refills, and are as varied as random bytes', () => {
  const seen = new Set<string>();
  // 18 bytes each: 227 values per 4 KB pool, so this refills the pool about 44 times.
  for (let i = 0; i < 10_000; i++) {
    const v = randomBase64url(18);
    assert.match(v, /^[A-Za-z0-9_-]{24}$/);
    seen.add(v);
  }
  assert.equal(seen.size, 10_000, 'no value handed out twice');
  // Each of the 64 base64url digits turns up about equally often (expected ~3,750 each).
  const counts = new Map<string, number>();
  for (const v of seen) for (const c of v) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.equal(counts.size, 64);
  for (const [c, n] of counts) assert.ok(n > 3000 && n < 4500, `${c}: ${n}`);
  assert.throws(() => randomBase64url(4097), /at most 4096/);
  assert.equal(randomBase64url(4096).length, Math.ceil((4096 * 4) / 3));
});
