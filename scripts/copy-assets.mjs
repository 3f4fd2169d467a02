// Copies non-TypeScript sources (phone templates) from src/ to dist/ after tsc.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (!p.endsWith('.ts')) cpSync(p, p.replace(/^src/, 'dist'));
  }
}
walk('src');
