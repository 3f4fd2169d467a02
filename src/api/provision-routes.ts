// Phone-facing provisioning over HTTP(S). Phones get plain status codes and their
// vendor's file format, never JSON. Polycom phones upload (PUT) the settings a user changed
// on the phone or its web page, logs and directories: kept per device and served back.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pbx } from '../application.js';
import { AddressList, unmapIPv4 } from '../util/net.js';
import { arrivedOn, cameThroughOldPort } from './listeners.js';
import { sameSecret } from '../security/compare.js';
import type { FetchRequest } from '../provisioning/fetch-outcomes.js';

/** The services these routes use (and nothing else of the application). */
export type ProvisionDeps = Pick<Pbx, 'config' | 'guard' | 'log' | 'provisioning'>;

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  500: 'Internal Server Error',
};

export interface ProvisionRouteOptions {
  /**
   * Runs before a request is judged, with its Authorization header: with HTTP worker
   * processes the nonce it answers may have been issued by another process, and is claimed
   * from it first (single use across processes). Undefined when there is nothing to wait for.
   */
  beforeAuth?: (authorization: string | undefined) => Promise<void> | undefined;
  /** Whether phones' uploads (PUT/POST) are taken here (an HTTP worker passes them to the primary). */
  uploads?: boolean;
}

export function provisionRoutes(pbx: ProvisionDeps, opts: ProvisionRouteOptions = {}) {
  return async (app: FastifyInstance) => {
    // The configured limit (provisioning.upload_max_bytes, at most 16 MiB) is checked by the
    // pipeline, which logs what was refused; this only stops bodies no setting allows.
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 16_777_216 }, (_req, body, done) => done(null, body));
    // Addresses outside provisioning.allow_networks, and banned ones (scanners), are turned
    // away before any work.
    const allowed = new AddressList();
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/provision/')) return;
      const nets = pbx.config().provisioning.allow_networks;
      // One form per address (a dual-stack listener shows IPv4 as ::ffff:a.b.c.d), so a ban
      // made over TFTP or HTTP covers both.
      const ip = unmapIPv4(req.ip);
      if (nets.length > 0 && !allowed.has(nets, ip)) return plain(reply, 403);
      if (pbx.guard.isBanned(ip)) return plain(reply, 403);
    });

    app.route({
      method: 'GET',
      url: '/provision/*',
      schema: { hide: true },
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        if (!pbx.config().provisioning.enabled) return plain(reply, 404);
        const claiming = opts.beforeAuth?.(req.headers.authorization);
        if (claiming) await claiming;
        const handled = pbx.provisioning.handle(fetchRequest(req, pbx));
        const answer = handled instanceof Promise ? await handled : handled;
        if (answer.settled) await answer.settled;
        if (answer.challenge) reply.header('WWW-Authenticate', answer.challenge);
        if (answer.status !== 200) return plain(reply, answer.status);
        reply.header('Cache-Control', 'no-store');
        return reply.code(200).type(answer.contentType ?? 'text/plain').send(answer.body);
      },
    });

    if (opts.uploads === false) return;
    app.route({
      method: ['PUT', 'POST'],
      url: '/provision/*',
      schema: { hide: true },
      handler: async (req, reply) => {
        if (!pbx.config().provisioning.enabled) return plain(reply, 404);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(typeof req.body === 'string' ? req.body : '');
        const claiming = opts.beforeAuth?.(req.headers.authorization);
        if (claiming) await claiming;
        const answer = pbx.provisioning.upload(fetchRequest(req, pbx), body, pbx.config().provisioning.upload_max_bytes);
        if (answer.settled) await answer.settled;
        if (answer.challenge) reply.header('WWW-Authenticate', answer.challenge);
        if (answer.status === 204) return reply.code(204).send();
        return plain(reply, answer.status);
      },
    });
  };
}

/** What the pipeline needs of an HTTP request (the same for downloads and uploads). */
function fetchRequest(req: FastifyRequest, pbx: ProvisionDeps): FetchRequest {
  const rest = (req.params as Record<string, string>)['*'] ?? '';
  return {
    fileName: lastSegment(rest),
    path: req.url.split('?')[0] ?? req.url,
    method: req.method,
    ip: unmapIPv4(req.ip),
    userAgent: req.headers['user-agent'] ?? null,
    localPort: arrivedOn(req.raw).port ?? pbx.config().api.port,
    legacy: cameThroughOldPort(req.raw),
    authorization: req.headers.authorization,
    target: req.url,
    secure: req.protocol === 'https',
    keyed: hasUrlKey(rest, pbx.config().provisioning.auth.url_key),
  };
}

/** True when the path under /provision/ begins with the site's URL key (compared in constant time). */
function hasUrlKey(rest: string, key: string): boolean {
  const slash = rest.indexOf('/');
  return key !== '' && slash >= 0 && sameSecret(rest.slice(0, slash), key);
}

function lastSegment(rest: string): string {
  const seg = rest.slice(rest.lastIndexOf('/') + 1);
  // Phones' file names are plain: decoding (and its try) only when something is escaped.
  if (!seg.includes('%')) return seg;
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

function plain(reply: FastifyReply, status: number) {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${REASON[status] ?? 'Error'}\n`);
}
