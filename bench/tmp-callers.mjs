import { readFileSync } from 'node:fs';
const [file, fname, depth = '6'] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map();
const dt = p.timeDeltas; for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (dt[i] ?? 0));
// inclusive time per node
const incl = new Map();
const order = [...p.nodes].reverse();
function inc(id) { if (incl.has(id)) return incl.get(id); const n = byId.get(id); let t = self.get(id) ?? 0; for (const c of n.children ?? []) t += inc(c); incl.set(id, t); return t; }
for (const n of p.nodes) inc(n.id);
const stacks = new Map();
for (const n of p.nodes) {
  if (n.callFrame.functionName !== fname) continue;
  const chain = []; let id = parent.get(n.id);
  while (id && chain.length < Number(depth)) { const f = byId.get(id).callFrame; chain.push(`${f.functionName || '(anon)'}@${f.url.split('/').slice(-1)[0]}:${f.lineNumber}`); id = parent.get(id); }
  const k = chain.join(' < '); stacks.set(k, (stacks.get(k) ?? 0) + incl.get(n.id));
}
for (const [k, t] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log((t / 1000).toFixed(0).padStart(6), 'ms', k);
