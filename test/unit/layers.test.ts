// The layers of docs/ARCHITECTURE.md, checked on the import statements of src/: each
// folder imports only from the layers below it (type-only imports included), the
// protocol layers know nothing of a PBX, the faces do not import each other, app.ts is
// imported by no one but the CLI's entry points, and there is no import cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers/server.ts';

const SRC = join(ROOT, 'src');

/** Which top-level parts of src/ each part may import (besides itself). */
const MAY_IMPORT: Record<string, string[]> = {
  'util': [],
  'log-format.ts': [],
  'log.ts': ['log-format.ts', 'util'],
  'version.ts': [],
  'config': ['util'],
  'security': ['util'],
  'storage': ['config', 'util'],
  'sip': ['util'],
  'media': ['util'],
  'tftp': ['util'],
  'pbx': ['sip', 'media', 'storage', 'security', 'config', 'util', 'log.ts'],
  'services': ['pbx', 'sip', 'media', 'storage', 'security', 'config', 'util', 'log.ts'],
  'accounts': ['pbx', 'storage', 'security', 'util'],
  'provisioning': ['pbx', 'sip', 'tftp', 'storage', 'security', 'config', 'util', 'log.ts', 'version.ts'],
  'diagnostics': ['provisioning', 'pbx', 'security', 'config', 'util'],
  'application.ts': ['config', 'log.ts', 'pbx', 'media', 'services', 'storage', 'provisioning', 'accounts', 'sip', 'security', 'diagnostics'],
  'api': ['application.ts', 'services', 'accounts', 'diagnostics', 'provisioning', 'pbx', 'sip', 'storage', 'security', 'config', 'util', 'log.ts', 'version.ts'],
  'app.ts': ['application.ts', 'api', 'services', 'accounts', 'diagnostics', 'provisioning', 'pbx', 'sip', 'media', 'tftp', 'storage', 'security', 'config', 'util', 'log.ts', 'version.ts'],
  'http-worker.ts': ['api', 'provisioning', 'pbx', 'storage', 'security', 'config', 'util', 'log.ts'],
  'cli': ['app.ts', 'http-worker.ts', 'application.ts', 'services', 'diagnostics', 'provisioning', 'pbx', 'sip', 'storage', 'security', 'config', 'util', 'log.ts', 'version.ts'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const part = (file: string) => relative(SRC, file).split('/')[0]!;

/** Every relative import and re-export of `file`, resolved to a file under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) {
    out.push(normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
  }
  return out;
}

const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));

export function violations(g: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [file, targets] of g) {
    const from = part(file);
    const allowed = MAY_IMPORT[from];
    for (const t of targets) {
      const to = part(t);
      if (to === from) continue;
      if (!allowed) bad.push(`${relative(SRC, file)}: ${from} is no known layer`);
      else if (!allowed.includes(to)) bad.push(`${relative(SRC, file)} imports ${relative(SRC, t)} (${from} may not import ${to})`);
    }
  }
  return bad;
}

export function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of g.get(f) ?? []) {
      if (state.get(t) === 'open') found.push(stack.slice(stack.indexOf(t)).map((x) => relative(SRC, x)));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('every import goes down the layers', () => {
  assert.deepEqual(violations(graph), []);
});

test('there is no import cycle', () => {
  assert.deepEqual(cycles(graph), []);
});

test('the checks catch a planted violation and a planted cycle', () => {
  const planted = new Map(graph);
  const sipFile = join(SRC, 'sip/stack.ts');
  planted.set(sipFile, [...(graph.get(sipFile) ?? []), join(SRC, 'pbx/registrar.ts')]);
  assert.match(violations(planted).join('\n'), /sip\/stack\.ts imports pbx\/registrar\.ts \(sip may not import pbx\)/);
  const message = join(SRC, 'sip/message.ts');
  planted.set(message, [...(graph.get(message) ?? []), sipFile]);
  assert.ok(cycles(planted).some((c) => c.includes('sip/message.ts') && c.includes('sip/stack.ts')), 'a cycle through message.ts and stack.ts');
});
