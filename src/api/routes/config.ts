import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import type { ReloadResult } from '../../config/live.js';
import { PbxError } from '../../pbx/errors.js';

/** The services these routes use (and nothing else of the application). */
export type ConfigRouteDeps = Pick<Pbx, 'config' | 'configFile' | 'live'>;

const ConfigBody = Type.Object(
  { values: Type.Record(Type.String({ pattern: '^[a-z_]+(\\.[a-z_0-9]+)+$' }), Type.Unknown(), { description: 'Dotted key → new value, e.g. {"api.port": 9000}' }) },
  { additionalProperties: false },
);

const SettingsBody = Type.Object(
  {
    url_format: Type.Optional(Type.String()),
    external_ip: Type.Optional(Type.String()),
    api_port: Type.Optional(Type.Integer()),
    sip_port: Type.Optional(Type.Integer()),
    timezone: Type.Optional(Type.String()),
    ntp_server: Type.Optional(Type.String()),
    language: Type.Optional(Type.String()),
    codecs: Type.Optional(Type.Array(Type.String())),
    dtmf_mode: Type.Optional(Type.String()),
    resync_interval_minutes: Type.Optional(Type.Integer()),
    legacy_grace_days: Type.Optional(Type.Number()),
    auto_resync: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Where each provisioning setting lives in config.yml. */
const SETTINGS_PATH: Record<string, string> = {
  url_format: 'provisioning.url_format',
  external_ip: 'server.external_ip',
  api_port: 'api.port',
  sip_port: 'server.sip_port',
  timezone: 'provisioning.site.timezone',
  ntp_server: 'provisioning.site.ntp_server',
  language: 'provisioning.site.language',
  codecs: 'provisioning.site.codecs',
  dtmf_mode: 'provisioning.site.dtmf_mode',
  resync_interval_minutes: 'provisioning.resync_interval_minutes',
  legacy_grace_days: 'provisioning.legacy_grace_days',
  auto_resync: 'provisioning.auto_resync',
};

export function configRoutes(pbx: ConfigRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['config'];

    const settings = () => {
      const c = pbx.config();
      return Object.fromEntries(Object.entries(SETTINGS_PATH).map(([k, path]) => [k, path.split('.').reduce<any>((o, p) => o?.[p], c)]));
    };

    app.get('/config', { schema: { tags, summary: 'The running configuration (database URL without password)' } }, async () => {
      const c = structuredClone(pbx.config());
      if (c.database.url) c.database.url = c.database.url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
      return { file: pbx.configFile, config: c };
    });

    app.put('/config', { schema: { tags, summary: 'Change config.yml values (validated first; comments kept)', body: ConfigBody } }, async (req) =>
      answer(await pbx.live.update(req.body.values, 'PUT /api/config')),
    );

    app.get('/provisioning/settings', { schema: { tags: ['provisioning'], summary: 'Provisioning settings' } }, async () => settings());

    app.put('/provisioning/settings', { schema: { tags: ['provisioning'], summary: 'Change provisioning settings (written to config.yml)', body: SettingsBody } }, async (req) => {
      const values = Object.fromEntries(Object.entries(req.body).map(([k, v]) => [SETTINGS_PATH[k]!, v]));
      const result = answer(await pbx.live.update(values, 'PUT /api/provisioning/settings'));
      return { ...result, settings: settings() };
    });
  };
}

function answer(r: ReloadResult) {
  if (!r.ok) {
    const first = r.error.issues[0];
    throw new PbxError('invalid', r.error.issues.map((i) => `${i.path}: ${i.message}`).join('; '), first?.path);
  }
  return { changed: r.change?.changed ?? [] };
}
