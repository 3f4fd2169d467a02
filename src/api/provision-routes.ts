// Phone-facing provisioning over HTTP(S). Phones get plain status codes and their
// vendor's file format, never JSON. Polycom phones upload logs with PUT; those are
// accepted (and discarded) so the phone does not retry forever.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pbx } from '../application.js';
import { AddressList, unmapIPv4 } from '../util/net.js';
import { cameThroughOldPort } from './listeners.js';
import { sameSecret } from '../security/compare.js';

/** The services these routes use (and nothing else of the application). */
export type ProvisionDeps = Pick<Pbx, 'config' | 'guard' | 'log' | 'provisioning'>;

const REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error' };
const UPLOAD = /\.(log|txt)$|-(boot|app|calls|contacts|directory)\.(log|xml)$/i;

export function provisionRoutes(pbx: ProvisionDeps) {
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 2_097_152 }, (_req, body, done) => done(null, body));
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
        const path = req.url.split('?')[0] ?? req.url;
        const rest = (req.params as Record<string, string>)['*'] ?? '';
        const fileName = lastSegment(rest);
        const answer = pbx.provisioning.handle({
          fileName,
          path,
          method: req.method,
          ip: unmapIPv4(req.ip),
          userAgent: req.headers['user-agent'] ?? null,
          localPort: req.socket.localPort ?? pbx.config().api.port,
          legacy: cameThroughOldPort(req.raw),
          authorization: req.headers.authorization,
          target: req.url,
          secure: req.protocol === 'https',
          keyed: hasUrlKey(rest, pbx.config().provisioning.auth.url_key),
        });
        if (answer.challenge) reply.header('WWW-Authenticate', answer.challenge);
        if (answer.status !== 200) return plain(reply, answer.status);
        reply.header('Cache-Control', 'no-store');
        return reply.code(200).type(answer.contentType ?? 'text/plain').send(answer.body);
      },
    });

    app.route({
      method: ['PUT', 'POST'],
      url: '/provision/*',
      schema: { hide: true },
      handler: async (req, reply) => {
        const fileName = lastSegment((req.params as Record<string, string>)['*'] ?? '');
        if (!UPLOAD.test(fileName)) return plain(reply, 405);
        pbx.log.debug({ ip: req.ip, file: fileName, bytes: (req.body as Buffer | undefined)?.length ?? 0 }, 'Phone log upload accepted');
        return reply.code(204).send();
      },
    });
  };
}

/** True when the path under /provision/ begins with the site's URL key (compared in constant time). */
function hasUrlKey(rest: string, key: string): boolean {
  const slash = rest.indexOf('/');
  return key !== '' && slash >= 0 && sameSecret(rest.slice(0, slash), key);
}

function lastSegment(rest: string): string {
  const seg = rest.split('/').pop() ?? '';
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

function plain(reply: FastifyReply, status: number) {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${REASON[status] ?? 'Error'}\n`);
}
