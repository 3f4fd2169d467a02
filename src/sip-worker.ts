// The composition root of a SIP worker process (sip.workers > 0). A worker reads the SIP
// UDP sockets the primary shares with it and answers the REGISTERs the steering rule
// gives it (src/pbx/sip-workers/steering.ts) with its own registrar: digest checks
// against its copy of the extensions (reloaded when the primary says they changed),
// nonces of its own, and a view of the location service the primary keeps current.
// Every other datagram it reads goes to the primary unparsed. It writes nothing to the
// database: the bindings it makes go to the primary, which writes them and tells the
// rest of the PBX. See docs/PERFORMANCE.md (SIP workers).
import type { Socket as UdpSocket } from 'node:dgram';
import type { PbxConfig } from './config/schema.js';
import { createLogger } from './log.js';
import { openDatabase } from './storage/database.js';
import { SecretBox } from './security/secret-box.js';
import { SecurityLog } from './security/security-log.js';
import { ExtensionService } from './pbx/extensions.js';
import { Location } from './pbx/location.js';
import { FloodGuard } from './pbx/flood-guard.js';
import { EdgeProxies } from './pbx/edge.js';
import { Registrar } from './pbx/registrar.js';
import { Admission } from './pbx/admission.js';
import { extensionDigestAuth, registrarOptions } from './pbx/sip-auth.js';
import { Steering } from './pbx/sip-workers/steering.js';
import type { BindingChange, ToSipPrimary, ToSipWorker, WorkerCounts } from './pbx/sip-workers/protocol.js';
import { SipStack } from './sip/stack.js';
import { DatagramRelay } from './sip/datagram-relay.js';
import { makeResponse, type SipRequest, type SipResponse } from './sip/message.js';
import type { ServerTransaction } from './sip/transactions/server.js';
import type { Flow } from './sip/transport.js';

type Init = Extract<ToSipWorker, { t: 'init' }>;

const RELOAD_QUIET_MS = 20;
const COUNTS_EVERY_MS = 250;
const BATCH_MS = 5;

export async function runSipWorker(): Promise<void> {
  const queued: [ToSipWorker, UdpSocket | undefined][] = [];
  let handle: ((m: ToSipWorker, h?: UdpSocket) => void) | undefined;
  const init = await new Promise<Init>((resolve) => {
    process.on('message', (m: ToSipWorker, h?: UdpSocket) => {
      if (m.t === 'init') return resolve(m);
      if (handle) return handle(m, h);
      queued.push([m, h]);
    });
  });
  let config: PbxConfig = init.config;
  const current = () => config;
  const log = createLogger(config.logging.level).child({ component: 'sip', worker: init.worker });
  const send = (m: ToSipPrimary) => {
    if (process.connected) process.send!(m);
  };

  const database = await openDatabase(config.database, { onError: (err) => log.warn({ err }, `Database connection problem: ${err.message}`) });
  const box = SecretBox.fromKeyFile(config.security.key_file);
  const extensions = new ExtensionService(database.db, box);
  await extensions.load();
  // The primary writes the bindings; this view starts from what it has written and
  // follows its changes (it flushed its pending writes before starting this worker).
  const location = new Location(database.db, null, config.cluster.node_id);
  await location.load();
  location.startExpiry();

  const securityLog = new SecurityLog(() => config.security.log_file);
  const guard = new FloodGuard(() => config.sip.guard, securityLog);
  guard.registrations = { hasBindingFrom: (ip) => location.hasBindingFrom(ip), isRegisteredFrom: (ext, ip) => location.isRegisteredFrom(ext, ip) };
  guard.onBan = (ip, until) => send({ t: 'ban', ip, until });
  const edges = new EdgeProxies(() => config.cluster.edge_addresses);
  const auth = extensionDigestAuth(current, extensions, box.derive('sip-digest-decoys'), { key: Buffer.from(init.nonceKey, 'base64'), issuer: init.worker });
  const authenticator = {
    auth,
    log,
    onAuthFailure: (ip: string, flow: Flow, username: string | undefined, reason: string) => {
      securityLog.write('auth-failure', { ip, service: 'sip', user: username ?? '-', reason });
      // A guesser changes source port at will: its failures add up in the primary, which bans.
      if (username) guard.extensionFailure(username);
      send({ t: 'auth-failure', ip, username: username ?? null, reliable: flow.reliable });
    },
    guessing: (ext: string, ip: string) => guard.guessing(ext, ip),
    clientOf: (req: SipRequest, flow: Flow) => edges.clientOf(req, flow),
  };
  const registrar = new Registrar(location, authenticator, (n) => extensions.get(n)?.enabled === true, () => registrarOptions(config), log);

  const stack = new SipStack();
  const admission = new Admission({ stack, guard, edges, isTrunkAddress: () => false });
  stack.setDelegate({
    admit: (req, flow) => admission.admit(req, flow),
    request: (req, tx, flow) => {
      if (!tx) return;
      // Steering sends REGISTERs only; one inside a dialog (a To tag) belongs to none.
      if (req.method !== 'REGISTER' || req.to.params.get('tag')) return tx.respond(makeResponse(req, 481));
      try {
        const before = changes.length;
        const res = registrar.handle(req, flow);
        answer(tx, res, changes.length > before);
      } catch (err) {
        log.error({ err, call_id: req.callId }, 'Error while handling a REGISTER');
        tx.respond(makeResponse(req, 500, 'Server Internal Error'));
      }
    },
  });
  stack.transports.onError = (err, flow) =>
    log.error({ err, peer: `${flow.remoteAddress}:${flow.remotePort}` }, 'Error while handling a SIP message; it was dropped');

  const relay = new DatagramRelay(Buffer.from(init.token, 'base64'));
  const relayPort = await relay.bind();
  relay.onDatagram = (d) => stack.transports.injectUdp(d.datagram, d.address, d.port, d.localPort);
  const steering = new Steering(relay, relayPort, (ip) => edges.has(ip));
  steering.setPeers(init.peers);
  stack.transports.steer = steering.steer;

  // The registrar's changes go to the primary every few milliseconds; the primary's
  // (applied below) and this view's own expiries do not go back. A REGISTER that changed
  // a binding is answered once the primary has it: the phone may be called at once.
  let fromPrimary = false;
  let changes: BindingChange[] = [];
  let batch = 0;
  const held = new Map<number, (() => void)[]>();
  location.onChange((event, binding) => {
    if (fromPrimary || event === 'expired') return;
    if (changes.length === 0) {
      const id = ++batch;
      // A few milliseconds of registrations in one message: an IPC message costs more than a REGISTER's answer.
      setTimeout(() => {
        send({ t: 'bindings', changes, batch: id });
        changes = [];
      }, BATCH_MS);
    }
    changes.push([event, binding]);
  });
  const answer = (tx: ServerTransaction, res: SipResponse, changed: boolean) => {
    if (!changed) return tx.respond(res);
    const list = held.get(batch);
    if (list) list.push(() => tx.respond(res));
    else held.set(batch, [() => tx.respond(res)]);
  };

  // What this worker counted, added into the primary's figures.
  const last: WorkerCounts = { accepted: 0, challenged: 0, refused: 0, received: 0, sent: 0, dropped: 0, bans: 0, requestsIn: 0, requestsRefused: 0 };
  const report = () => {
    const now: WorkerCounts = {
      ...registrar.counters,
      ...stack.transports.counters,
      bans: guard.counters.bans,
      requestsIn: stack.counters.requestsIn,
      requestsRefused: stack.counters.requestsRefused,
    };
    const delta = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - last[k as keyof WorkerCounts]])) as unknown as WorkerCounts;
    Object.assign(last, now);
    if (Object.values(delta).some((v) => v !== 0)) send({ t: 'counts', counts: delta });
  };
  const counting = setInterval(report, COUNTS_EVERY_MS);

  let reloading: NodeJS.Timeout | undefined;
  let waitingSeq = 0;
  // Acknowledged in the order told (the primary counts the highest).
  let applying: Promise<unknown> = Promise.resolve();
  const ack = (seq: number) => {
    applying = applying.then(() => send({ t: 'ack', seq }));
  };
  handle = (m, h) => {
    switch (m.t) {
      case 'socket':
        if (h) stack.transports.adoptUdp(h, m.host);
        if (m.last) send({ t: 'ready', relay: relayPort });
        return;
      case 'peers':
        steering.setPeers(m.peers);
        return;
      case 'config':
        config = m.config;
        ack(m.seq);
        return;
      case 'changed': {
        if (!m.tables.includes('extensions')) return ack(m.seq);
        // An import changes hundreds of extensions in a burst: one reload once they pause,
        // each change acknowledged after the reload that covers it.
        waitingSeq = m.seq;
        clearTimeout(reloading);
        reloading = setTimeout(() => {
          const covers = waitingSeq;
          applying = applying
            .then(() => extensions.load())
            .catch((err: Error) => log.error({ err }, `Reloading extensions failed: ${err.message}`))
            .then(() => send({ t: 'ack', seq: covers }));
        }, RELOAD_QUIET_MS);
        return;
      }
      case 'bindings':
        fromPrimary = true;
        try {
          for (const [event, binding] of m.changes) location.apply(event, binding);
        } finally {
          fromPrimary = false;
        }
        return;
      case 'ban':
        guard.applyBan(m.ip, m.until);
        return;
      case 'applied':
        for (const [id, list] of held) {
          if (id > m.batch) continue;
          held.delete(id);
          for (const respond of list) respond();
        }
        return;
      case 'stop':
        void stop();
        return;
      case 'init':
        return;
    }
  };
  const stop = async () => {
    clearInterval(counting);
    report();
    stack.transports.steer = null;
    relay.close();
    location.stop();
    await stack.close();
    await securityLog.close();
    await database.close();
    process.exit(0);
  };
  // The primary went away (killed): nothing to answer for.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  for (const [m, h] of queued) handle(m, h);
  send({ t: 'loaded' });
}
