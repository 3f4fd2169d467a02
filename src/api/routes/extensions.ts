import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { acceptCsv, csvText, CSV_BODY_LIMIT } from '../csv-body.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import { extensionView, type ViewDeps } from '../views.js';
import { ExtensionView } from '../contract.js';
import { page, Page } from '../page.js';
import { extensionRows, extensionsCsv } from '../../pbx/extension-csv.js';

/** The services these routes use (and nothing else of the application). */
export type ExtensionRouteDeps = Pick<Pbx, 'extensions' | 'log'> & ViewDeps;

const Number_ = Type.String({ pattern: '^[0-9]{2,10}$', description: 'Extension number, 2 to 10 digits' });
const Params = Type.Object({ number: Type.String() });
const Algorithms = Type.Union([
  Type.Array(Type.Union([Type.Literal('SHA-256'), Type.Literal('MD5')]), { minItems: 1, description: 'Digest algorithms this extension may use; null = server default' }),
  Type.Null(),
]);

const OutboundClassField = Type.Union([Type.Literal('internal'), Type.Literal('local'), Type.Literal('national'), Type.Literal('international'), Type.Null()], {
  description: 'What outside numbers it may call (emergency numbers always); null: dialplan.default_class',
});

const CreateBody = Type.Object(
  {
    number: Number_,
    name: Type.Optional(Type.String({ maxLength: 100 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Generated (strong) when omitted' })),
    voicemail_pin: Type.Optional(Type.String({ pattern: '^[0-9]{4,12}$' })),
    enabled: Type.Optional(Type.Boolean()),
    digest_algorithms: Type.Optional(Algorithms),
    outbound_class: Type.Optional(OutboundClassField),
    allow_weak_password: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const UpdateBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    regenerate_password: Type.Optional(Type.Boolean()),
    voicemail_pin: Type.Optional(Type.String({ pattern: '^[0-9]{4,12}$' })),
    enabled: Type.Optional(Type.Boolean()),
    digest_algorithms: Type.Optional(Algorithms),
    outbound_class: Type.Optional(OutboundClassField),
    allow_weak_password: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export function extensionRoutes(pbx: ExtensionRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['extensions'];

    app.get(
      '/extensions',
      {
        schema: {
          tags,
          summary: 'List extensions in number order; with limit, one page of them (total says how many match)',
          querystring: Type.Object({
            ...Page.properties,
            free_first: Type.Optional(Type.Boolean({ description: 'Extensions without a phone first (each part in number order): what a form picking a line for a phone offers' })),
          }),
          response: { 200: Type.Object({ extensions: Type.Array(ExtensionView), total: Type.Integer() }) },
        },
      },
      async (req) => {
        const q = req.query.q?.toLowerCase();
        const all = pbx.extensions.list();
        let matching = q ? all.filter((e) => e.number.startsWith(q) || e.name.toLowerCase().includes(q)) : all;
        if (req.query.free_first) {
          // One look-up per extension: those without a phone, then those with one, each in number order.
          const free: typeof all = [];
          const taken: typeof all = [];
          for (const e of matching) (pbx.devices.usingExtension(e.number).length > 0 ? taken : free).push(e);
          matching = free.concat(taken);
        }
        return { extensions: page(matching, req.query).map((e) => extensionView(pbx, e)), total: matching.length };
      },
    );

    // Bulk: a CSV in (FreePBX or FusionPBX columns, or ours), a CSV out.
    acceptCsv(fastify);
    app.post(
      '/extensions/import',
      {
        bodyLimit: CSV_BODY_LIMIT,
        schema: {
          tags,
          summary: 'Create or update extensions from a CSV (Content-Type: text/csv); one bad row changes nothing, and every bad row is named by its line',
          querystring: Type.Object({ allow_weak_passwords: Type.Optional(Type.Boolean()), dry_run: Type.Optional(Type.Boolean()) }),
        },
      },
      async (req, reply) => {
        const csv = csvText(req.body, reply);
        if (csv === null) return reply;
        const { rows, errors, ignored } = extensionRows(csv, { allowWeakPasswords: req.query.allow_weak_passwords === true });
        // Every wrong row at once: cells that cannot be read, and rows the extensions refuse.
        const result = await pbx.extensions.importMany(rows, { dryRun: req.query.dry_run === true, rowErrors: errors });
        if ('errors' in result) return reply.code(400).send({ error: 'invalid', message: `${result.errors.length} row(s) are wrong; nothing was imported`, errors: result.errors, ignored_columns: ignored });
        if (req.query.dry_run) return { dry_run: true, rows: rows.length, ignored_columns: ignored };
        pbx.log.info({ created: result.created, updated: result.updated }, `Extensions imported: ${result.created} created, ${result.updated} updated`);
        return { created: result.created, updated: result.updated, passwords: result.generated, ignored_columns: ignored };
      },
    );

    app.get(
      '/extensions/export',
      { schema: { tags, summary: 'Every extension as CSV (number, name, enabled, outbound_class, digest_algorithms; with passwords=true also each SIP password: admin tokens only)', querystring: Type.Object({ passwords: Type.Optional(Type.Boolean()) }) } },
      async (req, reply) => {
        const withPasswords = req.query.passwords === true;
        if (withPasswords && req.role !== 'admin') return reply.code(403).send({ error: 'forbidden', message: 'Only an admin token may export SIP passwords' });
        if (withPasswords) pbx.log.warn(`Extensions exported with their SIP passwords (token ${req.tokenId ?? '?'})`);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="extensions.csv"')
          .send(extensionsCsv(pbx.extensions.list(), withPasswords));
      },
    );

    app.post('/extensions', { schema: { tags, summary: 'Create an extension; the answer shows its password once', body: CreateBody } }, async (req, reply) => {
      const { extension, password } = await pbx.extensions.create(req.body);
      pbx.log.info({ extension: extension.number }, `Extension ${extension.number} created`);
      return reply.code(201).send({ ...extensionView(pbx, extension), password });
    });

    app.get('/extensions/:number', { schema: { tags, summary: 'Show an extension', params: Params, response: { 200: ExtensionView } } }, async (req) =>
      extensionView(pbx, pbx.extensions.require(req.params.number)),
    );

    app.put('/extensions/:number', { schema: { tags, summary: 'Change an extension', params: Params, body: UpdateBody } }, async (req) => {
      const { extension, password } = await pbx.extensions.update(req.params.number, req.body);
      pbx.log.info({ extension: extension.number }, `Extension ${extension.number} updated`);
      return { ...extensionView(pbx, extension), ...(password ? { password } : {}) };
    });

    app.delete('/extensions/:number', { schema: { tags, summary: 'Delete an extension', params: Params } }, async (req, reply) => {
      await pbx.extensions.delete(req.params.number);
      pbx.log.info({ extension: req.params.number }, `Extension ${req.params.number} deleted`);
      return reply.code(204).send();
    });
  };
}
