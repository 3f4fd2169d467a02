// The media thread: a LocalMediaEngine with its own event loop, sockets and clock, driven
// by ThreadedMediaEngine's commands. Only media runs here, so a tick waits for nothing
// but RTP.
import { parentPort } from 'node:worker_threads';
import { LocalMediaEngine, type LocalLeg, type LocalRelay } from './local-engine.js';
import { MediaPortsExhausted, type PortRange } from './ports.js';
import type { Command, Report } from './threaded-engine.js';

const port = parentPort!;
let range: PortRange = { address: '0.0.0.0', min: 10000, max: 20000 };
const engine = new LocalMediaEngine(() => range);
const legs = new Map<number, LocalLeg>();
const relays = new Map<number, LocalRelay>();
const post = (r: Report) => port.postMessage(r);

// Each second: every leg's figures (the main thread's media watchdog and CDR read them) and the engine's.
const reporter = setInterval(() => {
  post({ ev: 'report', legs: [...legs].map(([id, leg]) => [id, leg.stats]), relays: [...relays].map(([id, r]) => [id, r.stats]), status: engine.status() });
}, 1000);
reporter.unref();

port.on('message', (c: Command) => {
  if (c.op === 'open' && c.kind === 'relay') {
    range = c.range;
    engine.openRelay().then(
      (relay) => {
        relays.set(c.id, relay);
        relay.onDigit = (side, digit, ms) => post({ ev: 'relay-digit', id: c.id, side, digit, ms });
        post({ ev: 'relay-opened', id: c.id, ...relay.ports });
      },
      (err: Error) => post({ ev: 'open-failed', id: c.id, message: err.message, exhausted: err instanceof MediaPortsExhausted }),
    );
    return;
  }
  const relay = relays.get(c.id);
  if (relay) {
    if (c.op === 'relay-update') relay.update(c.side, c.remote, c.allowedSources);
    else if (c.op === 'relay-digits') relay.takeDigits(c.side, c.payloadType);
    else if (c.op === 'close') {
      relays.delete(c.id);
      void relay.close().then((stats) => post({ ev: 'relay-closed', id: c.id, stats }));
    }
    return;
  }
  if (c.op === 'open') {
    range = c.range;
    engine.open().then(
      (leg) => {
        legs.set(c.id, leg);
        leg.onDigit = (digit) => post({ ev: 'digit', id: c.id, digit });
        post({ ev: 'opened', id: c.id, port: leg.port });
      },
      (err: Error) => post({ ev: 'open-failed', id: c.id, message: err.message, exhausted: err instanceof MediaPortsExhausted }),
    );
    return;
  }
  const leg = legs.get(c.id);
  if (!leg) return; // closed already: a late command
  try {
    switch (c.op) {
      case 'start':
        leg.start(c.params);
        break;
      case 'update':
        leg.update(c.remote, c.allowedSources, c.direction);
        break;
      case 'play':
        void leg.play(c.samples).then(() => post({ ev: 'played', id: c.id, seq: c.seq }));
        break;
      case 'stop-playing':
        leg.stopPlaying();
        break;
      case 'digit':
        leg.sendDigit(c.digit, c.ms);
        break;
      case 'record':
        leg.record(c.path, c.limits).then(
          (result) => post({ ev: 'recorded', id: c.id, seq: c.seq, result }),
          (err: Error) => post({ ev: 'record-failed', id: c.id, seq: c.seq, message: err.message }),
        );
        break;
      case 'stop-recording':
        leg.stopRecording();
        break;
      case 'close':
        legs.delete(c.id);
        void leg.close().then((stats) => post({ ev: 'closed', id: c.id, stats }));
        break;
    }
  } catch (err) {
    post({ ev: 'failed', id: c.id, message: (err as Error).message });
  }
});
