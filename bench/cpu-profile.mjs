// Where a profiled pbx spent its CPU: self time by function (and by file), from the
// .cpuprofile files `node --cpu-prof` wrote (bench/sip.sh PBX_NODE_ARGS="--cpu-prof
// --cpu-prof-dir=DIR"). Not a test.
//   node bench/cpu-profile.mjs DIR [top=25]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, topArg = '25'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/cpu-profile.mjs <dir with .cpuprofile files> [top]');
  process.exit(2);
}
const top = Number(topArg);
const byFunction = new Map();
const byFile = new Map();
let total = 0;
for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  // Each sample is one tick of the sampled function (self time); intervals in µs.
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodes.get(profile.samples[i]);
    const us = profile.timeDeltas[i] ?? 0;
    const f = node.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
    total += us;
    const file = f.url ? relative(process.cwd(), f.url.replace(/^file:\/\//, '')) : `(${f.functionName || 'native'})`;
    const key = `${f.functionName || '(anonymous)'}  ${file}:${f.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
}
const print = (title, map) => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms busy)`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
  }
};
print('Self time by function', byFunction);
print('Self time by file', byFile);
