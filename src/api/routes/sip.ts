import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { page, Page } from '../page.js';
import { byNumber } from '../../pbx/extensions.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx, SipParts } from '../../application.js';
import type { Binding } from '../../pbx/location.js';
import { ActiveCallView, CdrView, RegistrationView } from '../contract.js';

/** The services these routes use (and nothing else of the application). */
export type SipRouteDeps = { sip: Pick<SipParts, 'calls' | 'location'> };

const CdrQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  extension: Type.Optional(Type.String()),
  result: Type.Optional(Type.String()),
  since: Type.Optional(Type.String({ description: 'ISO time; calls started at or after it' })),
});

export function registrationView(b: Binding, node: string) {
  return {
    extension: b.aor,
    contact: b.contact,
    source: `${b.sourceAddress}:${b.sourcePort}`,
    transport: b.transport,
    user_agent: b.userAgent,
    expires: Math.max(0, Math.round((b.expiresAt - Date.now()) / 1000)),
    expires_at: new Date(b.expiresAt).toISOString(),
    registered_at: new Date(b.registeredAt).toISOString(),
    node,
    path: b.path,
  };
}

export function sipRoutes(pbx: SipRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/registrations',
      {
        schema: {
          tags: ['sip'],
          summary: 'Registered phones (extension, contact, source, transport, User-Agent, expires, node), in extension order; with limit, one page (total says how many match)',
          querystring: Type.Object({
            ...Page.properties,
            extensions: Type.Optional(Type.String({ maxLength: 20_000, pattern: '^[0-9]+(,[0-9]+)*$', description: 'Only these extensions (comma-separated), e.g. the lines of one page of phones' })),
          }),
          response: { 200: Type.Object({ registrations: Type.Array(RegistrationView), total: Type.Integer() }) },
        },
      },
      async (req) => {
        const location = pbx.sip.location;
        // This node's, then those registered through other nodes that it reaches through their Path.
        const all: [Binding, string][] = [...location.all().map((b): [Binding, string] => [b, location.node]), ...location.fromOtherNodes().map((b): [Binding, string] => [b, b.node])];
        const q = req.query.q;
        const only = req.query.extensions ? new Set(req.query.extensions.split(',')) : null;
        const matching = all.filter(([b]) => (!q || b.aor.startsWith(q)) && (!only || only.has(b.aor))).sort(([a], [b]) => byNumber(a.aor, b.aor));
        return { registrations: page(matching, req.query).map(([b, node]) => registrationView(b, node)), total: matching.length };
      },
    );

    app.get('/calls', { schema: { tags: ['sip'], summary: 'Active calls', response: { 200: Type.Object({ calls: Type.Array(ActiveCallView) }) } } }, async () => ({
      calls: pbx.sip.calls.list().map((c) => ({
        call_id: c.callId,
        caller: c.caller,
        callee: c.callee,
        state: c.state,
        started_at: new Date(c.startedAt).toISOString(),
        answered_at: c.answeredAt ? new Date(c.answeredAt).toISOString() : null,
      })),
    }));

    app.get('/cdr', { schema: { tags: ['sip'], summary: 'Call detail records, newest first', querystring: CdrQuery, response: { 200: Type.Object({ cdr: Type.Array(CdrView) }) } } }, async (req) => ({
      cdr: await pbx.sip.calls.cdr(req.query),
    }));
  };
}
