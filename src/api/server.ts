// The HTTP listener: REST API under /api (bearer tokens), phone provisioning under
// /provision (no JSON to phones), /health for probes. Built by `buildHttp` without
// listening, so tests can inject requests and `pbx serve` can listen.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { AddressList, unmapIPv4 } from '../util/net.js';
import { ARRIVED_HEADER, arrivalHeader, cameThroughOldPort, OLD_PORT_HEADER } from './listeners.js';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../application.js';
import { PbxError } from '../pbx/errors.js';
import { bearerAuth } from './auth.js';
import { extensionRoutes } from './routes/extensions.js';
import { deviceRoutes } from './routes/devices.js';
import { voicemailRoutes } from './routes/voicemail.js';
import { trunkRoutes } from './routes/trunks.js';
import { provisioningInfoRoutes } from './routes/provisioning-info.js';
import { statusRoutes } from './routes/status.js';
import { sipRoutes } from './routes/sip.js';
import { configRoutes } from './routes/config.js';
import { authRoutes, sessionRoutes } from './routes/auth.js';
import { provisionRoutes, type ProvisionRouteOptions } from './provision-routes.js';
import { createMetrics } from './metrics.js';
import { registerLoadShedding, type LoadCounters } from './load-shedding.js';
import { eventRoutes } from './routes/events.js';
import { doctorRoutes } from './routes/doctor.js';
import { serverFindings } from '../diagnostics/checks.js';
import { uiRoutes } from './routes/ui.js';
import { webAdmin } from './routes/web-admin.js';

export type Http = FastifyInstance;

export interface RouteSummary {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, for tests that walk the whole table. */
    routeList: RouteSummary[];
    /** Load figures (shed requests, the kernel's refused connections) for /metrics and the log. */
    load: LoadCounters;
  }
}

/** Headers every answer carries. */
export async function securityHeaders(_req: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('X-Frame-Options', 'DENY');
  reply.header('Referrer-Policy', 'no-referrer');
}

/**
 * Whose X-Forwarded-For is believed: the configured proxies' (api.trusted_proxies), and, with
 * HTTP workers, the internal unix socket's (its peer has no address; only our workers reach it).
 */
export function trustedProxyFn(proxies: string[], internal: boolean): false | ((addr: string | undefined, hop: number) => boolean) {
  if (proxies.length === 0 && !internal) return false;
  const nets = new AddressList();
  return (addr, hop) => (addr === undefined ? internal && hop === 0 : proxies.length > 0 && nets.has(proxies, unmapIPv4(addr)));
}

/** What a worker adds to a request it passes to the primary: who the client is and how it came. */
export function internalHeaders(req: IncomingMessage, secure: boolean): Record<string, string> {
  const prior = req.headers['x-forwarded-for'];
  return {
    'x-forwarded-for': `${prior ? `${String(prior)}, ` : ''}${req.socket.remoteAddress ?? ''}`,
    'x-forwarded-proto': secure ? 'https' : 'http',
    'x-forwarded-host': req.headers.host ?? '',
    [OLD_PORT_HEADER]: cameThroughOldPort(req) ? '1' : '0',
    [ARRIVED_HEADER]: arrivalHeader(req),
  };
}

const STATUS_OF = { invalid: 400, not_found: 404, conflict: 409 } as const;

/** What HTTP worker processes (api.workers) need of the primary's app. */
export interface HttpOptions {
  /** Claims a digest nonce another process issued, before a phone's request is judged. */
  beforeAuth?: ProvisionRouteOptions['beforeAuth'];
  /** Settles once every worker applied the changes made so far: a write is answered after it. */
  afterWrite?: () => Promise<void>;
  /** Settles once what the workers' requests set off has been applied here: an admin read waits for it. */
  beforeRead?: () => Promise<void>;
}

export async function buildHttp(pbx: Pbx, opts: HttpOptions = {}): Promise<Http> {
  const routes: RouteSummary[] = [];
  // The app does not listen itself: HttpListeners feeds it from the main port and old ports.
  const app = Fastify({
    logger: false,
    bodyLimit: 1_048_576,
    // Only the configured proxies' X-Forwarded-For is believed (req.ip is the client then),
    // and that of our own HTTP workers (they come through the internal unix socket).
    trustProxy: trustedProxyFn(pbx.config().api.trusted_proxies, pbx.config().api.workers > 0),
    // Fastify answers with a clear JSON error instead of ajv's defaults.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  app.decorate('routeList', routes);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof PbxError) {
      return reply.code(STATUS_OF[err.kind]).send({ error: err.kind, message: err.message, field: err.field });
    }
    if (err.validation) {
      const first = err.validation[0];
      const params = (first?.params ?? {}) as Record<string, unknown>;
      const path = (first?.instancePath ?? '').split('/').filter(Boolean).join('.');
      const field = (params.missingProperty as string) ?? (params.additionalProperty as string) ?? path;
      const what = params.additionalProperty
        ? 'is not a known field'
        : params.missingProperty
          ? 'is required'
          : (first?.message ?? 'is invalid');
      return reply.code(400).send({
        error: 'invalid',
        message: `${err.validationContext ?? 'body'}${field ? ` field "${field}"` : ''} ${what}`,
        field: field || undefined,
      });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: 'bad_request', message: err.message });
    }
    pbx.log.error({ err, url: req.url, method: req.method }, 'Unhandled error in HTTP request');
    return reply.code(500).send({ error: 'internal', message: 'Internal server error; the server log has the details' });
  });

  app.addHook('onSend', securityHeaders);
  const beforeRead = opts.beforeRead;
  if (beforeRead) {
    // The admin sees what phones did through any process (a fetch a worker served a moment ago).
    app.addHook('onRequest', async (req) => {
      if ((req.method === 'GET' || req.method === 'HEAD') && (req.url.startsWith('/api/') || req.url.startsWith('/metrics'))) await beforeRead();
    });
  }
  const afterWrite = opts.afterWrite;
  if (afterWrite) {
    // Read your writes whichever process serves the next request: a device created through
    // the API is served by every worker once the API has answered.
    app.addHook('onSend', async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') await afterWrite();
    });
  }

  await app.register(swagger, {
    openapi: {
      info: { title: 'pbx REST API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok', service: 'pbx' }));

  const load: LoadCounters = { shed: 0, listenOverflows: 0 };
  app.decorate('load', load);
  await registerLoadShedding(app, { busyPercent: pbx.config().api.shed_busy_percent, log: pbx.log.child({ component: 'http' }), counters: load });

  await app.register(provisionRoutes(pbx, { beforeAuth: opts.beforeAuth }));

  const metrics = createMetrics(pbx, load);
  await app.register(async (m) => {
    m.addHook('onRequest', bearerAuth(pbx.tokens));
    m.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  });

  // The web admin's files (public: the data they show needs a token).
  await app.register(webAdmin(), { prefix: '/admin' });

  await app.register(authRoutes(pbx, pbx.admins, pbx.firstAdminSetup), { prefix: '/api' });

  await app.register(
    async (api) => {
      api.addHook('onRequest', bearerAuth(pbx.tokens));
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      await api.register(sessionRoutes(pbx));
      await api.register(statusRoutes(pbx));
      await api.register(extensionRoutes(pbx));
      await api.register(deviceRoutes(pbx));
      await api.register(voicemailRoutes(pbx));
      await api.register(trunkRoutes(pbx));
      await api.register(provisioningInfoRoutes(pbx));
      await api.register(sipRoutes(pbx));
      await api.register(configRoutes(pbx));
      await api.register(uiRoutes(pbx));
      await api.register(doctorRoutes({ findings: () => serverFindings(pbx.checks) }));
      await api.register(eventRoutes(pbx));
      api.setNotFoundHandler((req, reply) =>
        reply.code(404).send({ error: 'not_found', message: `No API route ${req.method} ${req.url}` }),
      );
    },
    { prefix: '/api' },
  );
  return app;
}
