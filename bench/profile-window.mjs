// A CPU profile of a running pbx over a window of time (not its whole life, as
// `node --cpu-prof` gives: start-up and set-up would be in it). The pbx must run with
// `--inspect=HOST:PORT` (e.g. bench/sip.sh PBX_NODE_ARGS="--inspect=127.0.0.1:9230").
// Writes DIR/window.cpuprofile for bench/cpu-profile.mjs. Not a test.
//   node bench/profile-window.mjs 127.0.0.1:9230 SECONDS DIR [after-seconds]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';

const [where, secondsArg, dir, afterArg = '0'] = process.argv.slice(2);
if (!where || !secondsArg || !dir) {
  console.error('usage: node bench/profile-window.mjs HOST:PORT SECONDS DIR [after-seconds]');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The inspector's WebSocket address; the target may still be starting. */
async function target() {
  for (let i = 0; i < 600; i++) {
    try {
      const list = await (await fetch(`http://${where}/json/list`)).json();
      if (list[0]?.webSocketDebuggerUrl) return list[0].webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`no inspector at ${where}`);
}

const ws = new WebSocket(await target());
await new Promise((ok, fail) => ws.once('open', ok).once('error', fail));
let id = 0;
const pending = new Map();
ws.on('message', (data) => {
  const msg = JSON.parse(String(data));
  const p = pending.get(msg.id);
  if (p) {
    pending.delete(msg.id);
    if (msg.error) p.fail(new Error(msg.error.message));
    else p.ok(msg.result);
  }
});
const call = (method, params = {}) =>
  new Promise((ok, fail) => {
    pending.set(++id, { ok, fail });
    ws.send(JSON.stringify({ id, method, params }));
  });

await sleep(Number(afterArg) * 1000);
await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 200 });
await call('Profiler.start');
await sleep(Number(secondsArg) * 1000);
const { profile } = await call('Profiler.stop');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'window.cpuprofile'), JSON.stringify(profile));
ws.close();
console.log(`profile of ${secondsArg} s written to ${join(dir, 'window.cpuprofile')}`);
