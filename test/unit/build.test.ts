// A second `npm start` does not rebuild what did not change: the web build is skipped
// when dist/web is newer than its sources (the test suite's own build made it so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/server.ts';

test('the web build is skipped when nothing it is made from changed', () => {
  const index = join(ROOT, 'dist/web/index.html');
  const before = statSync(index).mtimeMs;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(index).mtimeMs, before, 'dist/web was not rebuilt');
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});
