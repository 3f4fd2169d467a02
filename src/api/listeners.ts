// The HTTP(S) listeners in front of the one fastify app. The main listener follows
// api.host/api.port/api.ssl and moves without a restart when they change; the port it
// leaves keeps serving /provision (only) for provisioning.legacy_grace_days, so phones
// that cached the old URL are still served and told the new one. Grace ports are
// stored, so a restart keeps them; provisioning.legacy_ports are served for good.
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { PbxConfig } from '../config/schema.js';
import type { Db } from '../storage/database.js';

/** Set by a worker on the internal socket only: the request came through an old provisioning port. */
export const OLD_PORT_HEADER = 'x-pbx-old-port';

interface Listener {
  /** Names it to the HTTP worker processes that share it. */
  id: number;
  server: Server;
  host: string;
  port: number;
  scheme: 'http' | 'https';
  /** Old ports only ever served phones: they serve /provision and nothing else. */
  provisioningOnly: boolean;
  /** An old port (grace or provisioning.legacy_ports): phones fetching here have not moved yet. */
  old: boolean;
  /** Undefined for the main listener and permanent legacy ports. */
  until?: Date;
  /** For https: the files it was opened with (workers open the same). */
  tls?: { cert_file: string; key_file: string };
}

const OLD_PORT = Symbol('pbx.oldPort');

/** True when the request came in through an old port: the listeners are the one judge of that. */
export function cameThroughOldPort(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [OLD_PORT]?: boolean })[OLD_PORT] === true;
}

/** Where a request arrived: the listener's address, port and scheme (a worker's, for one it passed on). */
export interface Arrival {
  address: string | undefined;
  port: number | undefined;
  secure: boolean;
}

const ARRIVED = Symbol('pbx.arrivedOn');
/** Set by a worker on the internal socket only: `<port> <address> <http|https>` of the listener it took the request on. */
export const ARRIVED_HEADER = 'x-pbx-arrived';

export function arrivedOn(req: IncomingMessage): Arrival {
  const passed = (req as IncomingMessage & { [ARRIVED]?: Arrival })[ARRIVED];
  if (passed) return passed;
  return { address: req.socket.localAddress, port: req.socket.localPort, secure: (req.socket as { encrypted?: boolean }).encrypted === true };
}

/** The ARRIVED_HEADER value for a request taken on this socket. */
export function arrivalHeader(req: IncomingMessage): string {
  const a = arrivedOn(req);
  return `${a.port ?? 0} ${a.address ?? '-'} ${a.secure ? 'https' : 'http'}`;
}

function markArrival(req: IncomingMessage, header: string | string[] | undefined): void {
  const [port, address, scheme] = String(header ?? '').split(' ');
  if (!port || !address) return;
  (req as IncomingMessage & { [ARRIVED]?: Arrival })[ARRIVED] = { port: Number(port) || undefined, address: address === '-' ? undefined : address, secure: scheme === 'https' };
}

export function markOldPort(req: IncomingMessage): void {
  (req as IncomingMessage & { [OLD_PORT]?: boolean })[OLD_PORT] = true;
}

/**
 * A port that only serves phones was asked for something else (a bookmark or script from
 * before a port move): say where the admin and API are now. A bookmark is redirected; an
 * API call gets an answer naming the new address (a redirect would carry its token to
 * another origin, and a page still open on the old one may not follow it). The address is
 * the configured one, never the Host header.
 */
export function answerOffProvisioning(req: IncomingMessage, res: ServerResponse, adminBase: string | undefined): void {
  const url = req.url ?? '';
  if (adminBase && /^\/admin(\/|\?|$)/.test(url)) {
    res.writeHead(308, { location: `${adminBase}${url}`, 'content-type': 'text/plain; charset=utf-8' }).end(`This port only serves phones now. The admin is at ${adminBase}/admin/\n`);
    return;
  }
  if (adminBase && /^\/api(\/|\?|$)/.test(url)) {
    const message = `This port only serves phones now; the API is at ${adminBase}/api/`;
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' }).end(`${JSON.stringify({ error: 'moved', message, api: `${adminBase}/api/` })}\n`);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
}

/** The listeners' part in sharing them with HTTP worker processes (app.ts wires it to HttpWorkers). */
export interface ListenerSharing {
  share(
    listener: { id: number; port: number; scheme: 'http' | 'https'; provisioningOnly: boolean; old: boolean; tls?: { cert_file: string; key_file: string } },
    server: Server,
  ): void;
  unshare(id: number): void;
}

export class HttpListeners {
  private main: Listener | undefined;
  /** provisioning.http_port: plain HTTP, /provision only. */
  private plain: Listener | undefined;
  private readonly legacy = new Map<number, Listener>();
  private sweeper: NodeJS.Timeout | undefined;
  private nextId = 0;
  /** HTTP worker processes accept on every listener too (api.workers). */
  sharing: ListenerSharing | null = null;
  private internal: Server | undefined;
  /** Where the admin is now (scheme, server.external_ip, api.port), for old ports' redirects. */
  private adminBase: string | undefined;

  constructor(
    private readonly app: FastifyInstance,
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  get mainPort(): number | undefined {
    return this.main?.port;
  }

  /** Ports still serving provisioning for phones that have not moved, with their end. */
  legacyPorts(): { port: number; until: string | null }[] {
    return [...this.legacy.values()].map((l) => ({ port: l.port, until: l.until?.toISOString() ?? null }));
  }

  async start(config: PbxConfig): Promise<void> {
    this.adminBase = adminBase(config);
    await this.app.ready();
    this.main = await this.open(config, config.api.host, config.api.port, false);
    await this.syncPlain(config);
    const now = new Date().toISOString();
    await this.db.deleteFrom('legacy_listeners').where('until', '<=', now).execute();
    const stored = await this.db.selectFrom('legacy_listeners').selectAll().execute();
    for (const row of stored) {
      if (row.port === config.api.port || row.port === config.provisioning.http_port) continue;
      await this.openLegacy(row.scheme === 'http' ? plainOnly(config) : config, row.host, row.port, new Date(row.until));
    }
    await this.syncPermanent(config);
    this.sweeper = setInterval(() => void this.expire(), 60_000);
    this.sweeper.unref();
  }

  /** Applies a config change: move the main listener, keep the old port for the grace period. */
  async apply(previous: PbxConfig, next: PbxConfig): Promise<void> {
    this.adminBase = adminBase(next);
    const moved = previous.api.port !== next.api.port || previous.api.host !== next.api.host;
    const tlsChanged = JSON.stringify(previous.api.ssl) !== JSON.stringify(next.api.ssl);
    if (moved || tlsChanged) {
      const old = this.main!;
      const reuse = this.legacy.get(next.api.port);
      if (reuse) await this.closeListener(reuse);
      this.legacy.delete(next.api.port);
      this.main = await this.open(next, next.api.host, next.api.port, false);
      this.log.info(`API port: ${next.api.port} (moved from ${old.port} without a restart)`);
      if (old.port !== next.api.port) await this.keepForGrace(old, next);
      else await this.closeListener(old);
    }
    await this.syncPlain(next);
    await this.syncPermanent(next);
  }

  /** A port phones may still use: keep serving /provision there for the grace period (or close it). */
  private async keepForGrace(l: Listener, config: PbxConfig): Promise<void> {
    const days = config.provisioning.legacy_grace_days;
    if (days <= 0 || l.port === config.api.port || l.port === config.provisioning.http_port) {
      await this.closeListener(l);
      return;
    }
    const until = new Date(Date.now() + days * 86_400_000);
    l.provisioningOnly = true;
    l.old = true;
    l.until = until;
    this.legacy.set(l.port, l);
    this.share(l);
    await this.db
      .insertInto('legacy_listeners')
      .values({ port: l.port, host: l.host, scheme: l.scheme, until: until.toISOString() })
      .onConflict((oc) => oc.column('port').doUpdateSet({ until: until.toISOString(), host: l.host, scheme: l.scheme }))
      .execute();
    this.log.info(`Old provisioning port ${l.port} keeps serving phones until ${until.toISOString()} (provisioning.legacy_grace_days)`);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    if (this.internal) {
      const internal = this.internal;
      this.internal = undefined;
      await new Promise<void>((ok) => {
        internal.close(() => ok());
        internal.closeIdleConnections?.();
      });
    }
    const all = [...this.legacy.values(), ...(this.main ? [this.main] : []), ...(this.plain ? [this.plain] : [])];
    await Promise.all(all.map((l) => this.closeListener(l)));
    this.legacy.clear();
  }

  /** Opens, moves or closes the plain-HTTP provisioning listener to match the config. */
  private async syncPlain(config: PbxConfig): Promise<void> {
    const want = config.provisioning.http_port;
    if (this.plain && this.plain.port === want && this.plain.host === config.api.host) return;
    if (this.plain) {
      const old = this.plain;
      this.plain = undefined;
      // Phones given the old plain-HTTP URL keep being served there for the grace period.
      if (old.port !== want) await this.keepForGrace(old, config);
      else await this.closeListener(old);
    }
    if (want > 0) {
      const reuse = this.legacy.get(want);
      if (reuse) await this.closeListener(reuse);
      this.legacy.delete(want);
      this.plain = await this.open(plainOnly(config), config.api.host, want, true);
      this.log.info(`Provisioning also served over plain HTTP on port ${want}`);
    }
  }

  private async syncPermanent(config: PbxConfig): Promise<void> {
    for (const port of config.provisioning.legacy_ports) {
      if (port === config.api.port || this.legacy.has(port)) continue;
      await this.openLegacy(config, config.api.host, port, undefined);
    }
  }

  private async openLegacy(config: PbxConfig, host: string, port: number, until: Date | undefined): Promise<void> {
    try {
      const l = await this.open(config, host, port, true, true);
      l.until = until;
      this.legacy.set(port, l);
      this.log.info(`Provisioning also served on old port ${port}${until ? ` until ${until.toISOString()}` : ''}`);
    } catch (err) {
      this.log.error(`Could not reopen old provisioning port ${port}: ${(err as Error).message}`);
    }
  }

  private async expire(): Promise<void> {
    const now = Date.now();
    for (const [port, l] of this.legacy) {
      if (l.until && l.until.getTime() <= now) {
        this.legacy.delete(port);
        await this.closeListener(l);
        await this.db.deleteFrom('legacy_listeners').where('port', '=', port).execute();
        this.log.info(`Grace period over: old provisioning port ${port} closed`);
      }
    }
  }

  private open(config: PbxConfig, host: string, port: number, provisioningOnly: boolean, old = false): Promise<Listener> {
    const ssl = config.api.ssl;
    const listener = { id: ++this.nextId, host, port, scheme: ssl.enabled ? 'https' : 'http', provisioningOnly, old } as Listener;
    if (ssl.enabled) listener.tls = { cert_file: ssl.cert_file, key_file: ssl.key_file };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (listener.provisioningOnly && !(req.url ?? '').startsWith('/provision/')) return answerOffProvisioning(req, res, this.adminBase);
      if (listener.old) markOldPort(req);
      this.app.routing(req, res);
    };
    const server = ssl.enabled ? createHttps({ key: readFileSync(ssl.key_file), cert: readFileSync(ssl.cert_file) }, handler) : createHttp(handler);
    server.keepAliveTimeout = 65_000;
    return new Promise((ok, fail) => {
      server.once('error', fail);
      server.listen({ host, port, backlog: config.api.backlog }, () => {
        server.off('error', fail);
        listener.server = server;
        this.share(listener);
        ok(listener);
      });
    });
  }

  /**
   * The socket HTTP workers pass the requests they do not serve to (the API, the admin,
   * uploads): only this user can reach it, and the worker says who the client was.
   */
  async openInternal(path: string): Promise<void> {
    rmSync(path, { force: true });
    const server = createHttp((req, res) => {
      if (req.headers[OLD_PORT_HEADER] === '1') markOldPort(req);
      markArrival(req, req.headers[ARRIVED_HEADER]);
      this.app.routing(req, res);
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen({ path, backlog: 511 }, () => ok());
    });
    chmodSync(path, 0o600);
    this.internal = server;
  }

  private share(l: Listener): void {
    this.sharing?.share({ id: l.id, port: l.port, scheme: l.scheme, provisioningOnly: l.provisioningOnly, old: l.old, tls: l.tls }, l.server);
  }

  private closeListener(l: Listener): Promise<void> {
    this.sharing?.unshare(l.id);
    return new Promise((ok) => {
      l.server.close(() => ok());
      l.server.closeIdleConnections?.();
    });
  }
}

/** The config as the plain-HTTP provisioning listener sees it: no TLS. */
function plainOnly(config: PbxConfig): PbxConfig {
  return { ...config, api: { ...config.api, ssl: { ...config.api.ssl, enabled: false } } };
}

/** Where the admin is now (scheme, server.external_ip, api.port). */
export function adminBase(config: PbxConfig): string {
  const ip = config.server.external_ip;
  return `${config.api.ssl.enabled ? 'https' : 'http'}://${ip.includes(':') ? `[${ip}]` : ip}:${config.api.port}`;
}
