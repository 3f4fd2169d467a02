// Phone files over TFTP, for phones that DHCP option 66 points at a bare address
// (Cisco, Polycom, older Yealink and Grandstream). Each read request goes through the
// same pipeline as an HTTP GET (ProvisioningService.handle: match, authorise, render,
// record) as method TFTP without credentials: TFTP has none to carry, so a per-device
// file is rendered and served only inside the device's first-fetch window. Like the
// HTTP route's hook, banned and unlisted addresses are refused before any work. The
// listener follows provisioning.tftp_port and tftp_host live.
import type { Logger } from 'pino';
import type { PbxConfig } from '../config/schema.js';
import { ERR, TftpServer, type TftpEvent, type TftpFile, type TftpRemote } from '../tftp/server.js';
import { AddressList, unmapIPv4 } from '../util/net.js';
import type { ProvisioningGuard } from './guard.js';
import type { ProvisioningService } from './service.js';

const REFUSED: TftpFile = { status: 'error', code: ERR.ACCESS_VIOLATION, message: 'Access violation' };
const NOT_FOUND: TftpFile = { status: 'error', code: ERR.NOT_FOUND, message: 'File not found' };

/** Where the TFTP listener belongs for this config; null when it is off. */
export function tftpAddress(config: PbxConfig): { host: string; port: number } | null {
  const p = config.provisioning;
  return p.tftp_port > 0 ? { host: p.tftp_host || config.api.host, port: p.tftp_port } : null;
}

/** The file a TFTP path names: its last segment, as the HTTP route takes it (`/provision/x.cfg` → `x.cfg`). */
export function tftpFileName(path: string): string {
  return path.split(/[/\\]/).pop() ?? '';
}

/** An HTTP-style status from ProvisioningService as a TFTP answer. */
export function tftpAnswer(status: number, body: string | undefined, fileName: string): TftpFile {
  switch (status) {
    case 200:
      return { status: 'ok', body: body ?? '' };
    case 401:
      return {
        status: 'error',
        code: ERR.ACCESS_VIOLATION,
        message: `Access violation: ${fileName} needs the phone's provisioning credential, which TFTP cannot carry; fetch it over HTTP(S)`,
      };
    case 403:
      return REFUSED;
    case 404:
      return NOT_FOUND;
    case 400:
      return { status: 'error', code: ERR.UNDEFINED, message: `Bad request: ${fileName} is not a file name this server can serve (the server log says why)` };
    default:
      return { status: 'error', code: ERR.UNDEFINED, message: `Server error (${status})` };
  }
}

export interface TftpDeps {
  config: () => PbxConfig;
  provisioning: ProvisioningService;
  guard: ProvisioningGuard;
  log: Logger;
  /** Where the listener says it opened or closed, whatever logging.level (like the API port line). */
  lifecycle?: Logger;
}

export class ProvisioningTftp {
  private server: TftpServer | null = null;
  private bound: { host: string; port: number } | null = null;
  private readonly allowed = new AddressList();
  private lastBusyLog = 0;

  constructor(private readonly deps: TftpDeps) {}

  /** The address listened on, or null. */
  get listening(): { address: string; port: number } | null {
    return this.server?.address() ?? null;
  }

  get stats(): TftpServer['stats'] | null {
    return this.server?.stats ?? null;
  }

  /** Starts, stops or moves the listener to match `config`; throws when the port cannot be bound. */
  async apply(config: PbxConfig): Promise<void> {
    const want = tftpAddress(config);
    if (want && this.bound && want.host === this.bound.host && want.port === this.bound.port) return;
    await this.close();
    if (!want) return;
    const server = new TftpServer({
      provider: (name, remote) => this.provide(name, remote),
      onEvent: (e) => this.onEvent(e),
      // A phone's file is a few kB: transfers are short. These bound what a flood can hold.
      maxTransfers: 200,
      maxPerAddress: 20,
      // A vanished client is given up after 6 retransmissions at most 10 s apart.
      maxTimeoutSeconds: 10,
    });
    await server.listen(want.port, want.host);
    this.server = server;
    this.bound = want;
    (this.deps.lifecycle ?? this.deps.log).info(`TFTP listening on UDP ${want.host}:${want.port} (phone files; per-device files only within a device's first-fetch window)`);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const was = this.bound!;
    this.bound = null;
    await server.close();
    (this.deps.lifecycle ?? this.deps.log).info(`TFTP stopped listening on UDP ${was.host}:${was.port}`);
  }

  /** The file provider: one read request through the provisioning pipeline. */
  provide(path: string, remote: TftpRemote): TftpFile | Promise<TftpFile> {
    const ip = unmapIPv4(remote.address);
    // Banned (a MAC walker) or outside provisioning.allow_networks: refused before any work.
    if (this.deps.guard.isBanned(ip)) return REFUSED;
    const c = this.deps.config();
    const nets = c.provisioning.allow_networks;
    if (nets.length > 0 && !this.allowed.has(nets, ip)) return REFUSED;
    if (!c.provisioning.enabled) return NOT_FOUND;
    const fileName = tftpFileName(path);
    const handled = this.deps.provisioning.handle({
      fileName,
      path,
      method: 'TFTP',
      ip,
      userAgent: null,
      localPort: this.bound?.port ?? c.provisioning.tftp_port,
      legacy: false,
      target: path,
      secure: false,
    });
    if (handled instanceof Promise) return handled.then((a) => tftpAnswer(a.status, a.body, fileName));
    return tftpAnswer(handled.status, handled.body, fileName);
  }

  private onEvent(e: TftpEvent): void {
    const log = this.deps.log;
    switch (e.type) {
      case 'complete':
        log.debug(
          { ip: e.remote.address, file: e.fileName, bytes: e.bytes, blksize: e.blockSize, ms: e.ms, retransmits: e.retransmits },
          `TFTP transfer of ${e.fileName} to ${e.remote.address} complete`,
        );
        return;
      case 'timeout':
        log.warn(
          { ip: e.remote.address, port: e.remote.port, file: e.fileName, block: e.block },
          `TFTP transfer of ${e.fileName} to ${e.remote.address} abandoned: no ACK for block ${e.block} after every retry`,
        );
        return;
      case 'aborted':
        log.info({ ip: e.remote.address, file: e.fileName, reason: e.reason }, `TFTP transfer of ${e.fileName} to ${e.remote.address} ended: ${e.reason}`);
        return;
      case 'refused':
        log.debug({ ip: e.remote.address, file: e.fileName, code: e.code }, `TFTP request refused: ${e.message}`);
        return;
      case 'malformed':
        log.debug({ ip: e.remote.address, reason: e.reason }, `Malformed TFTP packet from ${e.remote.address}: ${e.reason}`);
        return;
      case 'busy': {
        const now = Date.now();
        if (now - this.lastBusyLog < 60_000) return;
        this.lastBusyLog = now;
        log.warn({ ip: e.remote.address, file: e.fileName }, 'TFTP: too many transfers at once; requests are dropped until some end (phones retry)');
        return;
      }
      case 'error':
        log.error({ err: e.error }, 'TFTP error');
        return;
    }
  }
}
