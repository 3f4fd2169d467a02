// SIP trunks: list (with registration state and last error), create, show, change, delete.
// The password is write-only: views say whether one is set.
import Type, { type Static } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import { CALLER_ID_HEADERS, DID_FROM, DTMF_MODES, TRUNK_CODECS, TRUNK_TRANSPORTS, type Trunk } from '../../pbx/trunks/store.js';
import type { Trunks } from '../../pbx/trunks/index.js';
import { TrunkView } from '../contract.js';

export type TrunkRouteDeps = Pick<Pbx, 'trunks' | 'log' | 'config'>;

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', description: 'Trunk name: 1 to 32 lower-case letters, digits, - or _' });
const Params = Type.Object({ name: Type.String() });
const nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);
const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

const Settings = {
  enabled: Type.Optional(Type.Boolean()),
  port: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 65535, description: 'null: DNS SRV, else 5060 (5061 with TLS)' }))),
  transport: Type.Optional(literals(TRUNK_TRANSPORTS)),
  outbound_proxy: Type.Optional(nullable(Type.String({ maxLength: 260, description: 'host or host:port' }))),
  register: Type.Optional(Type.Boolean({ description: 'false: an IP-authenticated trunk' })),
  username: Type.Optional(nullable(Type.String({ maxLength: 64 }))),
  auth_username: Type.Optional(nullable(Type.String({ maxLength: 64 }))),
  password: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 128, description: 'Write-only; stored sealed' }))),
  realm: Type.Optional(nullable(Type.String({ maxLength: 128 }))),
  expiry_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86400 })),
  contact_user: Type.Optional(nullable(Type.String({ maxLength: 64 }))),
  from_user: Type.Optional(nullable(Type.String({ maxLength: 64 }))),
  allowed_addresses: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100, description: 'Addresses or CIDR ranges inbound calls may come from' })),
  codecs: Type.Optional(Type.Array(literals(TRUNK_CODECS), { minItems: 1, maxItems: 2 })),
  dtmf_mode: Type.Optional(literals(DTMF_MODES)),
  max_calls: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 100000 }))),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  caller_id_header: Type.Optional(literals(CALLER_ID_HEADERS)),
  did_from: Type.Optional(literals(DID_FROM)),
};

const CreateBody = Type.Object({ name: Name, host: Type.String({ minLength: 1, maxLength: 253 }), ...Settings }, { additionalProperties: false });
const UpdateBody = Type.Object({ host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })), ...Settings }, { additionalProperties: false });


export function trunkView(trunks: Trunks, t: Trunk): Static<typeof TrunkView> {
  const s = trunks.status(t);
  return {
    name: t.name,
    enabled: t.enabled,
    host: t.host,
    port: t.port,
    transport: t.transport,
    outbound_proxy: t.outboundProxy,
    register: t.register,
    username: t.username,
    auth_username: t.authUsername,
    password_set: t.password !== null,
    realm: t.realm,
    expiry_seconds: t.expirySeconds,
    contact_user: t.contactUser,
    from_user: t.fromUser,
    allowed_addresses: t.allowedAddresses,
    codecs: t.codecs,
    dtmf_mode: t.dtmfMode,
    max_calls: t.maxCalls,
    priority: t.priority,
    caller_id_header: t.callerIdHeader,
    did_from: t.didFrom,
    status: {
      state: s.state,
      last_error: s.lastError,
      target: s.target,
      registered_until: s.registeredUntil,
      failures: s.failures,
      next_attempt_at: s.nextAttemptAt,
      health: { up: s.health.up, rtt_ms: s.health.rttMs, checked_at: s.health.checkedAt, last_error: s.health.lastError },
    },
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

export function trunkRoutes(pbx: TrunkRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['trunks'];
    const { trunks } = pbx;

    app.get('/trunks', { schema: { tags, summary: 'List trunks with their registration state', response: { 200: Type.Object({ trunks: Type.Array(TrunkView) }) } } }, async () => ({
      trunks: trunks.store.list().map((t) => trunkView(trunks, t)),
    }));

    app.post('/trunks', { schema: { tags, summary: 'Create a trunk (it registers at once when enabled and registering)', body: CreateBody, response: { 201: TrunkView } } }, async (req, reply) => {
      const t = await trunks.store.create(req.body);
      pbx.log.info({ trunk: t.name, host: t.host }, `Trunk ${t.name} created (${t.host})`);
      return reply.code(201).send(trunkView(trunks, t));
    });

    app.get('/trunks/:name', { schema: { tags, summary: 'Show a trunk and its registration state', params: Params, response: { 200: TrunkView } } }, async (req) =>
      trunkView(trunks, trunks.store.require(req.params.name)),
    );

    app.put('/trunks/:name', { schema: { tags, summary: 'Change a trunk (it registers again)', params: Params, body: UpdateBody, response: { 200: TrunkView } } }, async (req) => {
      const t = await trunks.store.update(req.params.name, req.body);
      pbx.log.info({ trunk: t.name }, `Trunk ${t.name} updated`);
      return trunkView(trunks, t);
    });

    // The routes live in config.yml (dialplan): shown here with the trunks they name, for
    // the admin's overview; they change with the file (or PUT /api/config).
    app.get('/routes', { schema: { tags, summary: 'The outbound and inbound routes (dialplan in config.yml), each trunk marked known or not' } }, async () => {
      const d = pbx.config().dialplan;
      const known = (name: string) => trunks.store.get(name) !== undefined;
      return {
        outbound: d.outbound_routes.map((r) => ({ ...r, trunks: r.trunks.map((name) => ({ name, known: known(name) })) })),
        inbound: d.inbound_routes,
        inbound_default: d.inbound_default,
        emergency_numbers: d.emergency_numbers,
        default_class: d.default_class,
      };
    });

    app.delete('/trunks/:name', { schema: { tags, summary: 'Delete a trunk (it unregisters)', params: Params } }, async (req, reply) => {
      await trunks.store.delete(req.params.name);
      pbx.log.info({ trunk: req.params.name }, `Trunk ${req.params.name} deleted`);
      return reply.code(204).send();
    });
  };
}
