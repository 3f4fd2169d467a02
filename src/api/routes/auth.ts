import Type from 'typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import type { AdminStore } from '../../accounts/admins.js';
import type { FirstAdminSetup } from '../../accounts/first-admin.js';

/** The services these routes use (and nothing else of the application). */
export type AuthDeps = Pick<Pbx, 'log' | 'securityLog' | 'tokens'>;

const SetupBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 256, description: 'The one-time setup token from the file the server log names' }),
    // Lengths are checked by the setup itself, after the token, with messages for people.
    username: Type.String({ maxLength: 64 }),
    password: Type.String({ maxLength: 256 }),
  },
  { additionalProperties: false },
);
const LoginBody = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });

/** Attempts per address per minute, before the per-account lockout even applies. */
const PER_ADDRESS_PER_MINUTE = 10;

/** The only /api routes without a bearer token: they are how a person gets one. */
export function authRoutes(pbx: AuthDeps, admins: AdminStore, setup: FirstAdminSetup) {
  const attempts = new Map<string, { start: number; count: number }>();
  /** Attempts per address per minute, for login and first-admin setup alike; false when over. */
  const allow = (ip: string, reply: FastifyReply): boolean => {
    const now = Date.now();
    let a = attempts.get(ip);
    if (!a || now - a.start > 60_000) attempts.set(ip, (a = { start: now, count: 0 }));
    if (++a.count <= PER_ADDRESS_PER_MINUTE) return true;
    reply.header('Retry-After', String(Math.ceil((a.start + 60_000 - now) / 1000)));
    void reply.code(429).send({ error: 'rate_limited', message: 'Too many login attempts from this address; wait a minute' });
    return false;
  };
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/auth/setup', { schema: { tags: ['auth'], summary: 'Whether the first admin account still has to be made', security: [] } }, async () => ({
      needed: await setup.needed(),
    }));
    app.post(
      '/auth/setup',
      { schema: { tags: ['auth'], summary: 'Make the first admin with the one-time setup token; answers a session token', body: SetupBody, security: [] } },
      async (req, reply) => {
        if (!allow(req.ip, reply)) return reply;
        try {
          const r = await setup.complete(req.body.token, req.body.username, req.body.password);
          pbx.log.info({ username: req.body.username, ip: req.ip }, `First admin ${req.body.username} created from ${req.ip} with the setup token`);
          return reply.code(201).send(r);
        } catch (err) {
          if ((err as { field?: string }).field === 'token') pbx.securityLog.write('auth-failure', { ip: req.ip, service: 'admin-setup', reason: 'wrong-token' });
          throw err;
        }
      },
    );
    app.post('/auth/login', { schema: { tags: ['auth'], summary: 'Log in as an admin; answers a session token', body: LoginBody, security: [] } }, async (req, reply) => {
      if (!allow(req.ip, reply)) return reply;
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

/** Behind the bearer check like every /api route; any role may end its own session. */
export function sessionRoutes(pbx: AuthDeps) {
  return async (app: FastifyInstance) => {
    app.post(
      '/auth/logout',
      { config: { anyRole: true }, schema: { tags: ['auth'], summary: 'End this session: the token this call carries is revoked (any role)' } },
      async (req, reply) => {
        await pbx.tokens.revoke(req.tokenId!);
        return reply.code(204).send();
      },
    );
  };
}
