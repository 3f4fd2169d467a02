// Bearer-token check for every /api route. Read-only tokens may only read.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role, TokenStore } from '../accounts/tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    role?: Role;
    /** The verified token's id. */
    tokenId?: number;
  }
  interface FastifyContextConfig {
    /** A write any role may make (ending one's own session). */
    anyRole?: boolean;
  }
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function bearerAuth(tokens: TokenStore) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const who = m ? await tokens.verify(m[1]!) : undefined;
    if (!who) {
      reply.header('WWW-Authenticate', 'Bearer realm="pbx"');
      return reply.code(401).send({
        error: 'unauthorized',
        message: m ? 'The token is unknown, revoked or expired' : 'Send Authorization: Bearer <token> (create one with `pbx token create --name NAME`)',
      });
    }
    if (who.role === 'read-only' && !READS.has(req.method) && !req.routeOptions.config.anyRole) {
      return reply.code(403).send({ error: 'forbidden', message: 'This token is read-only' });
    }
    req.role = who.role;
    req.tokenId = who.id;
  };
}
