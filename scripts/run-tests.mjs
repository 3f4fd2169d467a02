// Runs every test/**/*.test.ts with node's built-in runner (Node 20 has no glob in --test),
// then the HTTP-facing end-to-end files again with every server they start running HTTP
// worker processes (api.workers: 2): phones, the API, the admin and the CLI must behave the
// same whichever process a connection reaches. `node scripts/run-tests.mjs <part of a path>…`
// runs only the files that match (and skips the second pass unless PBX_TEST_HTTP_WORKERS is set).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The end-to-end files whose servers are run a second time with HTTP workers. */
const HTTP_FACING = [
  'provisioning', 'api', 'config-change', 'bulk-import', 'trusted-proxy', 'tftp', 'first-admin', 'admin-lockout',
  'cli-and-durability', 'doctor', 'postgres', 'web-admin', 'web-first-admin', 'install-layout',
];

const filter = process.argv.slice(2);
const all = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.ts')) all.push(p);
  }
})('test');
const files = all.filter((p) => filter.length === 0 || filter.some((f) => p.includes(f)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const run = (list, env = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...list], { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

let status = run(files);
if (filter.length === 0 && !process.env.PBX_TEST_HTTP_WORKERS) {
  const again = all.filter((p) => p.startsWith(join('test', 'e2e')) && HTTP_FACING.some((h) => p.slice('test/e2e/'.length).startsWith(h)));
  console.log(`\n# Again with HTTP worker processes (api.workers: 2): ${again.length} end-to-end files`);
  status = run(again, { PBX_TEST_HTTP_WORKERS: '2' }) || status;
}
process.exit(status);
