import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import { PbxError } from '../../pbx/errors.js';
import { TemplateError } from '../../provisioning/templates.js';
import { diagnose } from '../../provisioning/diagnostics.js';
import type { VendorProfile } from '../../provisioning/vendors/types.js';

/** The services these routes use (and nothing else of the application). */
export type ProvisioningInfoDeps = Pick<Pbx, 'config' | 'devices' | 'files' | 'log' | 'requestLog' | 'resync' | 'templates' | 'vendors'>;

const TemplateParams = Type.Object({ vendor: Type.String(), model: Type.String() });
const TemplateQuery = Type.Object({ file: Type.Optional(Type.String()) });
const TemplateBody = Type.Object(
  { content: Type.String({ minLength: 1, maxLength: 1_000_000 }), file: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
const RequestsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  mac: Type.Optional(Type.String()),
  outcome: Type.Optional(Type.String()),
});

/** The device template (the file with the SIP account) unless another is named. */
function templateName(vendor: VendorProfile, file?: string): string {
  const names = [...new Set(vendor.files.filter((f) => f.kind !== 'upload').map((f) => f.template))];
  if (file) {
    if (!names.includes(file)) throw new PbxError('invalid', `Unknown template "${file}" for ${vendor.id}; templates: ${names.join(', ')}`, 'file');
    return file;
  }
  const account = vendor.files.find((f) => f.sensitive && f.kind === 'device');
  return account?.template ?? names[0]!;
}

export function provisioningInfoRoutes(pbx: ProvisioningInfoDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['provisioning'];

    const vendorModel = (v: string, m: string) => {
      const vendor = pbx.vendors.get(v);
      if (!vendor) throw new PbxError('not_found', `Unknown vendor "${v}"`, 'vendor');
      const model = pbx.vendors.model(vendor.id, m);
      if (!model) throw new PbxError('not_found', `Unknown model "${m}" for vendor ${vendor.id}`, 'model');
      return { vendor, model };
    };

    app.get('/provisioning/vendors', { schema: { tags, summary: 'Supported vendors and models' } }, async () => ({
      vendors: pbx.vendors.vendors.map((v) => v.id),
      models: Object.fromEntries(pbx.vendors.vendors.map((v) => [v.id, v.models.map((m) => m.id)])),
      // Models whose file format no source settles: vendor → model → why.
      experimental: Object.fromEntries(
        pbx.vendors.vendors
          .map((v) => [v.id, Object.fromEntries(v.models.filter((m) => m.experimental).map((m) => [m.id, m.experimental!]))] as const)
          .filter(([, models]) => Object.keys(models).length > 0),
      ),
    }));

    app.get('/provisioning/templates', { schema: { tags, summary: 'Templates per vendor and model' } }, async () => ({
      templates: pbx.vendors.vendors.flatMap((vendor) =>
        vendor.models.map((model) => ({
          vendor: vendor.id,
          model: model.id,
          files: [...new Set(vendor.files.filter((f) => f.kind !== 'upload').map((f) => f.template))].map((name) => ({
            file: name,
            custom: pbx.templates.get(vendor, model.id, name)?.custom ?? false,
          })),
        })),
      ),
    }));

    app.get(
      '/provisioning/templates/:vendor/:model',
      { schema: { tags, summary: 'The template text for a vendor/model', params: TemplateParams, querystring: TemplateQuery } },
      async (req) => {
        const { vendor, model } = vendorModel(req.params.vendor, req.params.model);
        const name = templateName(vendor, req.query.file);
        const tpl = pbx.templates.get(vendor, model.id, name);
        if (!tpl) throw new PbxError('not_found', `Template not found for ${vendor.name} ${model.id}`, 'file');
        return { vendor: vendor.id, model: model.id, file: name, custom: tpl.custom, content: tpl.source };
      },
    );

    app.put(
      '/provisioning/templates/:vendor/:model',
      { schema: { tags, summary: 'Save a custom template for a vendor/model (checked first)', params: TemplateParams, body: TemplateBody } },
      async (req) => {
        const { vendor, model } = vendorModel(req.params.vendor, req.params.model);
        const name = templateName(vendor, req.body.file);
        try {
          const path = pbx.templates.save(vendor, model.id, name, req.body.content);
          pbx.files.invalidateAll();
          pbx.resync.scheduleAuto(`template ${name} for ${vendor.name} ${model.id} saved`);
          pbx.log.info({ vendor: vendor.id, model: model.id, path }, `Template ${name} for ${vendor.name} ${model.id} saved`);
          return { vendor: vendor.id, model: model.id, file: name, custom: true };
        } catch (err) {
          if (err instanceof TemplateError) throw new PbxError('invalid', err.message, err.variable ? 'content' : 'content');
          throw err;
        }
      },
    );

    app.get('/provisioning/requests', { schema: { tags, summary: 'Provisioning request log, newest first', querystring: RequestsQuery } }, async (req) => ({
      requests: await pbx.requestLog.list(req.query),
    }));

    app.get('/provisioning/diagnostics', { schema: { tags, summary: 'Live URL format, counts, recent failures, warnings' } }, async () =>
      diagnose(pbx.config(), pbx.devices, pbx.requestLog),
    );
  };
}
