// The web admin at /admin: the files `npm run build` puts in dist/web (Vite + Preact),
// served by this same app. Deep links (/admin/phones/…) get index.html, and the app
// routes in the browser. The files are public; everything they show comes from /api
// with the bearer token.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** dist/web, from src/api/routes (tests) and from dist/api/routes (the server) alike. */
export const WEB_ROOT = resolve(import.meta.dirname, '../../../dist/web');

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // Voicemail messages play from blobs fetched with the session's token.
  "media-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function webAdmin(root = WEB_ROOT) {
  return async (app: FastifyInstance) => {
    app.addHook('onSend', async (_req, reply) => {
      reply.header('Content-Security-Policy', CSP);
    });
    if (!existsSync(join(root, 'index.html'))) {
      const missing = async (_req: unknown, reply: FastifyReply) =>
        reply.code(503).type('text/plain; charset=utf-8').send('The web admin is not built: run `npm run build` (it writes dist/web).\n');
      app.get('/', missing);
      app.get('/*', missing);
      return;
    }
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      index: false,
      wildcard: true,
      setHeaders: (reply, path) => {
        // File names under assets/ carry a content hash: cache them for good; the page itself never.
        reply.header('Cache-Control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
    const page = (reply: FastifyReply) => reply.header('Cache-Control', 'no-cache').sendFile('index.html');
    app.get('/', async (_req, reply) => page(reply));
    // A deep link the browser asked for (no file extension) gets the app; a missing file gets 404.
    app.setNotFoundHandler(async (req, reply) => {
      const path = req.url.split('?')[0]!;
      if ((req.method === 'GET' || req.method === 'HEAD') && !/\.[a-z0-9]+$/i.test(path)) return page(reply);
      return reply.code(404).type('text/plain; charset=utf-8').send('Not Found\n');
    });
  };
}
