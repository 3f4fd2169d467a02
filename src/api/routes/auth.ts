import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../app.js';
import type { AdminStore } from '../admins.js';

const LoginBody = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });

/** Attempts per address per minute, before the per-account lockout even applies. */
const PER_ADDRESS_PER_MINUTE = 10;

/** The only /api route without a bearer token: it is how a person gets one. */
export function authRoutes(pbx: Pbx, admins: AdminStore) {
  const attempts = new Map<string, { start: number; count: number }>();
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post('/auth/login', { schema: { tags: ['auth'], summary: 'Log in as an admin; answers a session token', body: LoginBody, security: [] } }, async (req, reply) => {
      const now = Date.now();
      let a = attempts.get(req.ip);
      if (!a || now - a.start > 60_000) attempts.set(req.ip, (a = { start: now, count: 0 }));
      if (++a.count > PER_ADDRESS_PER_MINUTE) {
        reply.header('Retry-After', String(Math.ceil((a.start + 60_000 - now) / 1000)));
        return reply.code(429).send({ error: 'rate_limited', message: 'Too many login attempts from this address; wait a minute' });
      }
      const r = await admins.login(req.body.username, req.body.password);
      if (r.ok) {
        pbx.log.info({ username: req.body.username, ip: req.ip }, `Admin ${req.body.username} logged in`);
        return r;
      }
      pbx.securityLog.write('auth-failure', { ip: req.ip, service: 'admin', user: req.body.username, reason: r.reason });
      if (r.reason === 'locked') {
        return reply.code(423).send({ error: 'locked', message: `Too many failed logins: account locked until ${r.locked_until}` });
      }
      return reply.code(401).send({ error: 'unauthorized', message: 'Wrong username or password' });
    });
  };
}
