import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { acceptCsv, csvText, CSV_BODY_LIMIT } from '../csv-body.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import { DeviceService } from '../../provisioning/devices.js';
import { deviceView, type ViewDeps } from '../views.js';
import { listenerProblem, type ListenerChoice } from '../../provisioning/config-url.js';
import { PbxError } from '../../pbx/errors.js';
import { DeviceView, UploadList } from '../contract.js';
import { deviceRows, devicesCsv } from '../../provisioning/device-csv.js';
import { page, Page } from '../page.js';

/** The services these routes use (and nothing else of the application). */
export type DeviceRouteDeps = Pick<Pbx, 'config' | 'devices' | 'files' | 'log' | 'resync'> & ViewDeps;

const Params = Type.Object({ mac: Type.String() });
const Ext = Type.String({ pattern: '^[0-9]{2,10}$' });
const Listener = Type.Union([Type.Literal('default'), Type.Literal('http'), Type.Literal('https')], {
  description: 'Listener its URLs point at: default (provisioning.http_port when set, else the API port), http, or https',
});
const ProvUser = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'User name the phone shows when it fetches its file (default: its MAC)' });
const ProvPassword = Type.String({ minLength: 12, maxLength: 128, description: 'Generated (strong) when omitted; shown once' });
const Overrides = Type.Record(Type.String(), Type.String(), { description: 'Vendor key → value added to this phone\'s file' });

const CreateBody = Type.Object(
  {
    mac_address: Type.String({ minLength: 1, description: 'Any common form: 68:79:09:9b:e7:68, 68-79-09-9B-E7-68, 6879.099b.e768, 6879099be768' }),
    extension_number: Type.Optional(Ext),
    lines: Type.Optional(Type.Array(Ext, { minItems: 1, description: 'Extensions on lines 1, 2, …' })),
    vendor: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    label: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
    overrides: Type.Optional(Overrides),
    provisioning_username: Type.Optional(ProvUser),
    provisioning_password: Type.Optional(ProvPassword),
    listener: Type.Optional(Listener),
  },
  { additionalProperties: false },
);

const UpdateBody = Type.Object(
  {
    extension_number: Type.Optional(Ext),
    lines: Type.Optional(Type.Array(Ext, { minItems: 1 })),
    vendor: Type.Optional(Type.String({ minLength: 1 })),
    model: Type.Optional(Type.String({ minLength: 1 })),
    label: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
    overrides: Type.Optional(Overrides),
    provisioning_username: Type.Optional(ProvUser),
    provisioning_password: Type.Optional(ProvPassword),
    regenerate_provisioning_password: Type.Optional(Type.Boolean({ description: 'New generated credential, shown once; reopens the first-fetch window' })),
    open_first_fetch_window: Type.Optional(Type.Boolean({ description: 'Let the phone fetch its file without its credential again (provisioning.auth.first_fetch_minutes)' })),
    listener: Type.Optional(Listener),
  },
  { additionalProperties: false },
);

const ResyncBody = Type.Object({ reboot: Type.Optional(Type.Boolean({ description: 'Reboot instead of a plain re-fetch' })) }, { additionalProperties: false });
const MassResyncBody = Type.Object(
  {
    reboot: Type.Optional(Type.Boolean()),
    vendor: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    macs: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    sync_state: Type.Optional(Type.String({ description: 'Only devices in this state, e.g. stale' })),
  },
  { additionalProperties: false },
);

function checkListener(pbx: Pick<Pbx, 'config'>, listener: ListenerChoice | undefined): void {
  const problem = listener ? listenerProblem(pbx.config(), listener) : null;
  if (problem) throw new PbxError('invalid', `listener "${listener}" cannot be used: ${problem}`, 'listener');
}

export function deviceRoutes(pbx: DeviceRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['provisioning'];

    app.get(
      '/provisioning/devices',
      {
        schema: {
          tags,
          summary: 'List provisioned devices with their live config URLs, in MAC order; with limit, one page (total says how many match)',
          querystring: Type.Object({
            ...Page.properties,
            q: Type.Optional(Type.String({ maxLength: 100, description: 'Only those whose MAC (any form) or an extension contains it, or whose vendor, model or label does' })),
          }),
          response: { 200: Type.Object({ devices: Type.Array(DeviceView), total: Type.Integer() }) },
        },
      },
      async (req) => {
        const text = req.query.q?.trim().toLowerCase();
        const compact = text?.replace(/[:.\-]/g, '');
        const all = pbx.devices.list();
        const matching = text
          ? all.filter((d) => (compact && (d.mac.includes(compact) || d.lines.some((l) => l.includes(compact)))) || `${d.vendor} ${d.model} ${d.label ?? ''}`.toLowerCase().includes(text))
          : all;
        // Views (live URLs, sync state) only for the page shown.
        const shown = page(matching, req.query);
        const states = await pbx.resync.states(shown);
        return { devices: shown.map((d, i) => deviceView(pbx, d, states[i]!)), total: matching.length };
      },
    );

    acceptCsv(fastify);
    app.post(
      '/provisioning/devices/import',
      {
        bodyLimit: CSV_BODY_LIMIT,
        schema: {
          tags,
          summary: 'Create or update devices from a CSV (Content-Type: text/csv: mac, vendor, model, lines, label); one bad row changes nothing, every bad row is named by its line',
          querystring: Type.Object({ dry_run: Type.Optional(Type.Boolean()) }),
        },
      },
      async (req, reply) => {
        const csv = csvText(req.body, reply);
        if (csv === null) return reply;
        const { rows, ignored } = deviceRows(csv);
        const result = await pbx.devices.importMany(rows, req.query.dry_run === true);
        if ('errors' in result) return reply.code(400).send({ error: 'invalid', message: `${result.errors.length} row(s) are wrong; nothing was imported`, errors: result.errors, ignored_columns: ignored });
        if (!req.query.dry_run) pbx.log.info({ created: result.created, updated: result.updated }, `Devices imported: ${result.created} created, ${result.updated} updated`);
        return { ...(req.query.dry_run ? { dry_run: true, rows: rows.length } : {}), created: result.created, updated: result.updated, credentials: result.credentials, ignored_columns: ignored };
      },
    );

    app.get('/provisioning/devices/export', { schema: { tags, summary: 'Every device as CSV (mac, vendor, model, lines, label)' } }, async (_req, reply) =>
      reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="devices.csv"').send(devicesCsv(pbx.devices.list())),
    );

    app.post('/provisioning/devices', { schema: { tags, summary: 'Add a device', body: CreateBody } }, async (req, reply) => {
      if (!req.body.extension_number && !req.body.lines) {
        return reply.code(400).send({ error: 'invalid', message: 'extension_number is required', field: 'extension_number' });
      }
      checkListener(pbx, req.body.listener);
      const device = await pbx.devices.create(req.body);
      const url = pbx.files.configUrl(device);
      pbx.log.info({ mac: device.mac, config_url: url }, `Device ${device.mac} added (${device.vendor} ${device.model}, extension ${device.lines.join(', ')})`);
      return reply.code(201).send({ ...deviceView(pbx, device, await pbx.resync.state(device)), provisioning_password: device.credential.password });
    });

    app.get('/provisioning/devices/:mac', { schema: { tags, summary: 'Show a device', params: Params, response: { 200: DeviceView } } }, async (req) => {
      const device = pbx.devices.require(DeviceService.parseMac(req.params.mac));
      return deviceView(pbx, device, await pbx.resync.state(device));
    });

    app.put('/provisioning/devices/:mac', { schema: { tags, summary: 'Change a device', params: Params, body: UpdateBody } }, async (req) => {
      checkListener(pbx, req.body.listener);
      const before = pbx.devices.require(DeviceService.parseMac(req.params.mac)).credential;
      const device = await pbx.devices.update(req.params.mac, req.body);
      pbx.log.info({ mac: device.mac }, `Device ${device.mac} updated`);
      const changed = device.credential.password !== before.password;
      return { ...deviceView(pbx, device, await pbx.resync.state(device)), ...(changed && req.body.regenerate_provisioning_password ? { provisioning_password: device.credential.password } : {}) };
    });

    app.post(
      '/provisioning/devices/:mac/resync',
      { schema: { tags, summary: 'Tell the phone to fetch its file now (SIP NOTIFY)', params: Params, body: Type.Optional(ResyncBody) } },
      async (req) => {
        const device = pbx.devices.require(DeviceService.parseMac(req.params.mac));
        return pbx.resync.device(device, req.body?.reboot ?? false);
      },
    );

    app.post(
      '/provisioning/resync',
      { schema: { tags, summary: 'Resync many phones (all, or a filter), in batches with jitter', body: Type.Optional(MassResyncBody) } },
      async (req, reply) => {
        const f = req.body ?? {};
        const macs = f.macs?.map((m) => DeviceService.parseMac(m, 'macs'));
        const candidates = pbx.devices
          .list()
          .filter((d) => (!f.vendor || d.vendor === f.vendor.toLowerCase()) && (!f.model || d.model.toUpperCase() === f.model.toUpperCase()))
          .filter((d) => !macs || macs.includes(d.mac));
        const states = f.sync_state ? await pbx.resync.states(candidates) : null;
        const devices = states ? candidates.filter((_, i) => states[i] === f.sync_state) : candidates;
        void pbx.resync.many(devices, f.reboot ?? false);
        return reply.code(202).send({ queued: devices.length, macs: devices.map((d) => d.mac) });
      },
    );

    app.delete('/provisioning/devices/:mac', { schema: { tags, summary: 'Remove a device', params: Params } }, async (req, reply) => {
      const mac = DeviceService.parseMac(req.params.mac);
      await pbx.devices.delete(mac);
      pbx.log.info({ mac }, `Device ${mac} removed`);
      return reply.code(204).send();
    });

    app.get(
      '/provisioning/devices/:mac/uploads',
      { schema: { tags, summary: 'Files the phone uploaded (Polycom settings changed on the phone or its web page, logs, directories)', params: Params, response: { 200: UploadList } } },
      async (req) => {
        const device = pbx.devices.require(DeviceService.parseMac(req.params.mac));
        return { uploads: pbx.files.uploads.list(device.mac).map((u) => ({ name: u.name, bytes: u.bytes, uploaded_at: u.uploadedAt })) };
      },
    );

    app.get(
      '/provisioning/devices/:mac/uploads/:name',
      { schema: { tags, summary: 'One uploaded file, as the phone sent it', params: Type.Object({ mac: Type.String(), name: Type.String() }) } },
      async (req, reply) => {
        const device = pbx.devices.require(DeviceService.parseMac(req.params.mac));
        const body = pbx.files.uploads.read(device.mac, req.params.name);
        if (!body) throw new PbxError('not_found', `Device ${device.mac} has not uploaded ${req.params.name}`, 'name');
        return reply.type('text/plain; charset=utf-8').header('Content-Disposition', `attachment; filename="${req.params.name}"`).send(body);
      },
    );
  };
}
