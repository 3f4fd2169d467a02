// Builds the web admin (typecheck, then Vite) unless dist/web is newer than every file it
// is made from: a second `npm start` should not spend seconds rebuilding what did not change.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const inputs = ['web', 'src/api/contract.ts', 'package-lock.json'];
const output = 'dist/web/index.html';

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((n) => newest(join(path, n))));
}

if (existsSync(output) && process.env.PBX_FORCE_BUILD !== '1' && statSync(output).mtimeMs > Math.max(...inputs.map(newest))) {
  process.exit(0);
}
for (const args of [
  ['tsc', '-p', 'web/tsconfig.json'],
  ['vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'],
]) {
  const r = spawnSync('npx', ['--no-install', ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
