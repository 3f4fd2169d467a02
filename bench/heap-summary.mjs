// What a running pbx keeps on its heap: a heap snapshot (taken through `--inspect`, after
// V8's own full GC) summarised by constructor, then by the property that holds each
// string, array or number (e.g. "Object.userAgent -> string": 100,000 of them). Run the
// pbx with --inspect=HOST:PORT (bench/fleet.ts PBX_NODE_ARGS, bench/sip.sh PBX_NODE_ARGS).
// Also prints process.memoryUsage() before and after a forced GC. Not a test.
//   node bench/heap-summary.mjs 127.0.0.1:9230 [top=30]
import WebSocket from 'ws';

const [where, topArg = '30'] = process.argv.slice(2);
if (!where) {
  console.error('usage: node bench/heap-summary.mjs HOST:PORT [top]');
  process.exit(2);
}
const top = Number(topArg);
const list = await (await fetch(`http://${where}/json/list`)).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl, { maxPayload: 2 ** 30 });
await new Promise((ok, fail) => ws.once('open', ok).once('error', fail));
let id = 0;
const pending = new Map();
const chunks = [];
ws.on('message', (data) => {
  const m = JSON.parse(String(data));
  if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params.chunk);
  else pending.get(m.id)?.(m.result);
});
const call = (method, params = {}) =>
  new Promise((ok) => {
    pending.set(++id, ok);
    ws.send(JSON.stringify({ id, method, params }));
  });
const memory = async () => (await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' })).result.value;

await call('HeapProfiler.enable');
console.log(`memoryUsage before GC: ${await memory()}`);
await call('HeapProfiler.collectGarbage');
console.log(`memoryUsage after GC:  ${await memory()}`);
await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
ws.close();

const snap = JSON.parse(chunks.join(''));
const meta = snap.snapshot.meta;
const nf = meta.node_fields;
const ef = meta.edge_fields;
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snap;
const N = nf.length;
const E = ef.length;
const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f));
const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f));

const add = (map, key, size) => {
  const a = map.get(key) ?? [0, 0];
  a[0]++;
  a[1] += size;
  map.set(key, a);
};
const byConstructor = new Map();
const byHolder = new Map();
const VALUES = new Set(['string', 'concatenated string', 'sliced string', 'array', 'number']);
for (let i = 0, e = 0; i < nodes.length; i += N) {
  const type = nodeTypes[nodes[i + iType]];
  const name = type === 'object' || type === 'closure' ? `${type}:${strings[nodes[i + iName]]}` : type;
  add(byConstructor, name, nodes[i + iSize]);
  const owner = type === 'object' ? strings[nodes[i + iName]] : type;
  for (let k = 0; k < nodes[i + iEdges]; k++, e += E) {
    const et = edgeTypes[edges[e + eType]];
    const to = edges[e + eTo];
    const toType = nodeTypes[nodes[to + iType]];
    if (!VALUES.has(toType) || (et !== 'property' && et !== 'internal' && et !== 'element')) continue;
    add(byHolder, `${owner}.${et === 'element' ? '[]' : strings[edges[e + eName]]} -> ${toType}`, nodes[to + iSize]);
  }
}
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [k, [n, s]] of [...map].sort((a, b) => b[1][1] - a[1][1]).slice(0, top)) {
    console.log(`${(s / 1e6).toFixed(1).padStart(8)} MB ${String(n).padStart(9)}  ${k}`);
  }
};
print('Self size by constructor (or kind)', byConstructor);
print('Values by what holds them (a value held twice counts twice)', byHolder);
