// The composition root of an HTTP worker process (api.workers > 0). A worker accepts
// connections on the listening sockets the primary shares with it and serves phones'
// file downloads (GET/HEAD /provision/…) from its own memory copy of extensions,
// devices and templates, reloaded when the primary says they changed; everything else
// (the API, the admin, uploads) it passes to the primary over a unix socket. It writes
// nothing: what a request sets off (request log, security log, guard, device statistics)
// goes to the primary, which owns it. See docs/PERFORMANCE.md (HTTP workers).
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { escape } from 'node:querystring';
import type { Server as NetServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import httpProxy from '@fastify/http-proxy';
import type { PbxConfig } from './config/schema.js';
import { createLogger, type Logger } from './log.js';
import { openDatabase } from './storage/database.js';
import { WriteBehind } from './storage/write-behind.js';
import { SecretBox } from './security/secret-box.js';
import { SecurityLog } from './security/security-log.js';
import { ExtensionService } from './pbx/extensions.js';
import { VendorRegistry } from './provisioning/vendors/index.js';
import { DeviceService, type Device, type DeviceAuthState } from './provisioning/devices.js';
import { UploadStore } from './provisioning/uploads.js';
import { PhoneFiles, templateCatalog } from './provisioning/phone-files.js';
import { FileWarmer } from './provisioning/file-warmer.js';
import { RequestLog } from './provisioning/request-log.js';
import { ProvisioningGuard } from './provisioning/guard.js';
import { ProvisioningAuth, type IssuedNonce } from './provisioning/http-auth.js';
import { ProvisioningService } from './provisioning/service.js';
import { EFFECTS, toNote, type Fetch, type FetchNote } from './provisioning/fetch-outcomes.js';
import { provisionRoutes } from './api/provision-routes.js';
import { adminBase, answerOffProvisioning, markOldPort } from './api/listeners.js';
import { internalHeaders, securityHeaders, trustedProxyFn } from './api/server.js';
import { workerIssuer, type SharedListener, type ToPrimary, type ToWorker } from './api/worker-protocol.js';

const RELOAD_QUIET_MS = 20;
const RELOAD_MAX_WAIT_MS = 500;

type Init = Extract<ToWorker, { t: 'init' }>;

export async function runHttpWorker(): Promise<void> {
  const queued: ToWorker[] = [];
  let handle: ((m: ToWorker, h?: NetServer) => void) | undefined;
  const handles = new Map<ToWorker, NetServer>();
  const init = await new Promise<Init>((resolve) => {
    process.on('message', (m: ToWorker, h?: NetServer) => {
      if (m.t === 'init') return resolve(m);
      if (handle) return handle(m, h);
      // Changes sent while this worker loads are applied once it has (a reload then is harmless).
      queued.push(m);
      if (h) handles.set(m, h);
    });
  });
  let config: PbxConfig = init.config;
  const current = () => config;
  const log = createLogger(config.logging.level).child({ component: 'http', worker: init.worker });
  const send = (m: ToPrimary) => {
    if (process.connected) process.send!(m);
  };

  const database = await openDatabase(config.database, { onError: (err) => log.warn({ err }, `Database connection problem: ${err.message}`) });
  const box = SecretBox.fromKeyFile(config.security.key_file);
  // Never flushed: a worker writes nothing (the primary owns every write).
  const unused = new WriteBehind(database.db, 60_000, () => {});
  const extensions = new ExtensionService(database.db, box);
  const vendors = new VendorRegistry();
  const devices = new DeviceService(database.db, vendors, extensions, unused, box);
  await extensions.load();
  await devices.load();
  const templates = templateCatalog(vendors, current);
  templates.loadAll();
  const files = new PhoneFiles(current, vendors, templates, devices, extensions, new UploadStore(() => config.provisioning.uploads_dir));
  // Renders inline (workers have no render thread), paced: this process's phones find theirs made.
  const warmer = new FileWarmer(files, devices, log, () => config.provisioning.prepare_files);
  let noMailbox = new Set(init.noMailbox);
  files.hasMailbox = (n) => extensions.get(n)?.enabled === true && !noMailbox.has(n);
  const securityLog = new SecurityLog(() => config.security.log_file);
  const guard = new ProvisioningGuard(() => config.provisioning.guard, securityLog);
  const auth = new ProvisioningAuth(() => config.provisioning.auth, workerIssuer(init.worker));
  const provisioning = new ProvisioningService(
    files,
    devices,
    vendors,
    new RequestLog(database.db, unused, () => config.provisioning.request_log_max_entries),
    log.child({ component: 'provisioning' }),
    guard,
    securityLog,
    auth,
  );

  // What requests set off goes to the primary in batches; a miss (the guard counts it) or a
  // fetch that closes a device's open window is answered only once the primary has applied
  // it everywhere, so the next request sees the ban or the closed window whichever process
  // it reaches. (An admin's read asks for the batches first: phones never wait for it.)
  let batch: FetchNote[] = [];
  let rid = 0;
  const waiting = new Map<number, () => void>();
  const claims = new Map<number, (issued: IssuedNonce | null) => void>();
  const flush = () => {
    if (batch.length === 0) return;
    send({ t: 'notes', notes: batch });
    batch = [];
  };
  provisioning.sendEffects = (f: Fetch) => {
    const note = toNote(f, vendors.vendors);
    if (!EFFECTS[f.outcome].guard && !movesWindow(f, (d) => auth.windowOpen(d))) {
      if (batch.length === 0) setImmediate(flush);
      batch.push(note);
      return undefined;
    }
    const notes = [...batch, note];
    batch = [];
    const id = ++rid;
    return new Promise<void>((resolve) => {
      waiting.set(id, resolve);
      send({ t: 'notes', notes, rid: id });
    });
  };

  const beforeAuth = (authorization: string | undefined) =>
    auth.claimForeign(
      authorization,
      (issuer, nonce) =>
        new Promise<IssuedNonce | null>((resolve) => {
          const id = ++rid;
          claims.set(id, resolve);
          send({ t: 'claim', rid: id, issuer, nonce });
        }),
    );

  const phones = await phoneApp({ config: current, guard, log, provisioning }, beforeAuth, config);
  const forward = await forwardApp(init.primarySocket, config);
  const servers = new Map<number, { server: Server; accepting: NetServer; listener: SharedListener }>();
  const serve = (listener: SharedListener, accepting: NetServer) => {
    const entry = { listener, accepting, server: undefined as unknown as Server };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const l = entry.listener;
      const url = req.url ?? '';
      if (l.provisioningOnly && !url.startsWith('/provision/')) return answerOffProvisioning(req, res, adminBase(config));
      if (l.old) markOldPort(req);
      if ((req.method === 'GET' || req.method === 'HEAD') && url.startsWith('/provision/')) phones.routing(req, res);
      else forward.routing(req, res);
    };
    const tls = listener.tls;
    entry.server = tls ? createHttps({ key: readFileSync(tls.key_file), cert: readFileSync(tls.cert_file) }, handler) : createHttp(handler);
    entry.server.keepAliveTimeout = 65_000;
    // Node re-listens a received socket with its default queue (511), which shrinks the
    // shared socket's queue for every process: set it back to api.backlog.
    (accepting as unknown as { _handle?: { listen(backlog: number): number } })._handle?.listen(config.api.backlog);
    accepting.on('connection', (socket) => entry.server.emit('connection', socket));
    servers.set(listener.id, entry);
  };

  // Window states told while devices reload from the database may be newer than what it
  // read (the primary writes them behind): applied again once the reload is done.
  let toldDuringReload: Map<string, DeviceAuthState> | null = null;
  const reload = async (tables: string[]) => {
    toldDuringReload = new Map();
    try {
      if (tables.includes('extensions')) await extensions.load();
      if (tables.includes('devices') || tables.includes('extensions')) await devices.load();
      for (const [mac, state] of toldDuringReload) devices.applyAuthState(mac, state);
    } finally {
      toldDuringReload = null;
    }
    if (tables.includes('templates')) templates.reset();
    // A changed extension or device already dropped its own phones' files (its change signal
    // from the reload); anything else (templates, mailboxes) may change every file.
    if (tables.some((t) => t !== 'extensions' && t !== 'devices')) files.invalidateAll();
  };
  let waitingReload: Set<string> | null = null;
  /** Change notices the waiting reload stands for, and when the last came. */
  let joined = 0;
  let lastNotice = 0;
  // An import sends a notice per row as each is written (hundreds a second, each a reload
  // of every device): the reload waits until the notices pause (RELOAD_QUIET_MS) or the
  // first has waited RELOAD_MAX_WAIT_MS. Each notice is acknowledged after the reload that
  // covers it, so an API write is still answered only once every worker has it.
  const quietOrLate = async (first: number) => {
    for (;;) {
      const wait = Math.min(lastNotice + RELOAD_QUIET_MS, first + RELOAD_MAX_WAIT_MS) - Date.now();
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  };
  // Acknowledged in the order sent (the primary counts the highest): a quick change after a
  // reload still in progress waits for it.
  let applying: Promise<void> = Promise.resolve();
  const ack = (seq: number) => {
    applying = applying.then(() => send({ t: 'ack', seq }));
  };

  handle = (m, h) => {
    switch (m.t) {
      case 'config':
        if (m.config.provisioning.custom_templates_dir !== config.provisioning.custom_templates_dir) templates.reset();
        config = m.config;
        files.invalidateAll();
        ack(m.seq);
        return;
      case 'changed': {
        // A burst of changes (a bulk import creates devices one by one) is one reload: a
        // change that arrives while a reload waits its turn joins it.
        if (waitingReload) {
          for (const t of m.tables) waitingReload.add(t);
          joined++;
          lastNotice = Date.now();
          ack(m.seq);
          return;
        }
        const tables = new Set(m.tables);
        waitingReload = tables;
        joined = 1;
        const first = (lastNotice = Date.now());
        applying = applying
          .then(() => quietOrLate(first))
          .then(() => {
            waitingReload = null;
            log.debug({ tables: [...tables], notices: joined }, `Reloading ${[...tables].join(', ')} for ${joined} change notice(s)`);
            return reload([...tables]);
          })
          .catch((err: Error) => log.error({ err }, `Reloading what the primary changed failed: ${err.message}`));
        ack(m.seq);
        return;
      }
      case 'mailboxes':
        noMailbox = new Set(m.off);
        files.invalidateAll();
        ack(m.seq);
        return;
      case 'flush':
        flush();
        ack(m.seq);
        return;
      case 'ban':
        guard.applyBan(m.ip, m.until);
        ack(m.seq);
        return;
      case 'auth-states':
        for (const [mac, state] of m.states) {
          devices.applyAuthState(mac, state);
          toldDuringReload?.set(mac, state);
        }
        ack(m.seq);
        return;
      case 'listen': {
        const known = servers.get(m.listener.id);
        if (known) known.listener = m.listener;
        else if (h) {
          try {
            serve(m.listener, h);
          } catch (err) {
            // The main process still serves this port; this worker just takes no share of it.
            log.error({ err }, `HTTP worker cannot serve port ${m.listener.port}: ${(err as Error).message}`);
            h.close();
          }
        }
        return;
      }
      case 'unlisten': {
        const known = servers.get(m.id);
        servers.delete(m.id);
        known?.accepting.close();
        known?.server.closeIdleConnections?.();
        return;
      }
      case 'claim':
        send({ t: 'claimed', rid: m.rid, issued: auth.claim(m.nonce) ?? null });
        return;
      case 'claimed':
        claims.get(m.rid)?.(m.issued);
        claims.delete(m.rid);
        return;
      case 'noted':
        waiting.get(m.rid)?.();
        waiting.delete(m.rid);
        return;
      case 'stop':
        void stop();
        return;
      case 'init':
        return;
    }
  };
  const stop = async () => {
    warmer.stop();
    flush();
    for (const { accepting, server } of servers.values()) {
      accepting.close();
      server.closeIdleConnections?.();
    }
    await Promise.race([Promise.all([...servers.values()].map(({ server }) => new Promise((r) => server.close(r)))), new Promise((r) => setTimeout(r, 2000))]);
    await Promise.all([phones.close(), forward.close()]);
    await database.close();
    log.flush?.();
    process.exit(0);
  };
  // The primary went away (killed): this worker has nothing to serve for.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  for (const m of queued) handle(m, handles.get(m));
  send({ t: 'ready' });
  warmer.start();
}

/** A delivered file whose fetch moves the device's window (the primary records it and tells everyone). */
function movesWindow(f: Fetch, windowOpen: (d: Device) => boolean): boolean {
  const d = f.device;
  if (f.outcome !== 'delivered' || !d) return false;
  // Only a window still open matters (one that ran out by time lets no one in either).
  if (f.how === 'digest' || f.how === 'basic') return windowOpen(d);
  return f.how === 'window' && d.windowUsedAt === null;
}

async function phoneApp(
  deps: Parameters<typeof provisionRoutes>[0],
  beforeAuth: (authorization: string | undefined) => Promise<void> | undefined,
  config: PbxConfig,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, trustProxy: trustedProxyFn(config.api.trusted_proxies, false) });
  app.addHook('onSend', securityHeaders);
  app.setErrorHandler((err, req, reply) => {
    deps.log.error({ err, url: req.url }, 'Unhandled error in HTTP request');
    return reply.code(500).type('text/plain; charset=utf-8').send('Internal Server Error\n');
  });
  await app.register(provisionRoutes(deps, { beforeAuth, uploads: false }));
  await app.ready();
  return app;
}

/** Passes requests on to the primary's internal socket, saying who the client is and how it came. */
async function forwardApp(socket: string, config: PbxConfig): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 16_777_216 });
  await app.register(httpProxy, {
    upstream: `unix+http://${escape(socket)}/`,
    http: { requestOptions: { timeout: 120_000 } },
    replyOptions: {
      rewriteRequestHeaders: (req, headers) => {
        const raw = req.raw as IncomingMessage;
        return { ...withoutHopByHop(headers), ...internalHeaders(raw, (raw.socket as { encrypted?: boolean }).encrypted === true) };
      },
      // The client's connection is this server's, the primary's is the proxy's (RFC 9110 §7.6.1).
      rewriteHeaders: (headers) => withoutHopByHop(headers),
    },
  });
  await app.ready();
  return app;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer'];

function withoutHopByHop<T extends Record<string, unknown>>(headers: T): T {
  const out = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

export type { Logger };
