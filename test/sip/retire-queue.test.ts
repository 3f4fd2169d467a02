// Transactions that only wait out Timer J, K, L or M leave in arrival order from one
// queue per wait, not from a timer each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetireQueue } from '../../src/sip/transactions/retire-queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('each item ends once its wait has passed, in the order added, and not before', async () => {
  const q = new RetireQueue(120, 10);
  const ended: string[] = [];
  const item = (name: string) => ({ expire: () => ended.push(name) });
  q.add(item('a'));
  await sleep(50);
  q.add(item('b'));
  q.add(item('c'));
  assert.equal(q.size, 3);
  await sleep(40);
  assert.deepEqual(ended, [], 'nothing before its wait');
  await sleep(60); // a: 150 ms old, b and c: 100 ms
  assert.deepEqual(ended, ['a']);
  assert.equal(q.size, 2);
  await sleep(60);
  assert.deepEqual(ended, ['a', 'b', 'c']);
  assert.equal(q.size, 0);
});

test('a large queue is compacted as its front ends, and clear() forgets without ending', async () => {
  const q = new RetireQueue(20, 5);
  let ended = 0;
  for (let i = 0; i < 10_000; i++) q.add({ expire: () => ended++ });
  await sleep(60);
  assert.equal(ended, 10_000);
  assert.equal(q.size, 0);
  for (let i = 0; i < 5; i++) q.add({ expire: () => ended++ });
  q.clear();
  await sleep(60);
  assert.equal(ended, 10_000, 'cleared items never end');
  assert.equal(q.size, 0);
});
