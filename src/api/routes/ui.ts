// Read-only views the web admin needs beyond the REST resources: who is logged in,
// dashboard figures, a device's file as it would be served now (secrets masked), the
// adoption queue (unknown phones that asked for a file) and a preview of the URL
// phones would get under changed settings. Every route only reads.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx, SipParts } from '../../application.js';
import { PbxError } from '../../pbx/errors.js';
import { DeviceService } from '../../provisioning/devices.js';
import { deriveConfigUrl, provisioningEndpoint } from '../../provisioning/config-url.js';
import { externalIpProblem, warnings } from '../../provisioning/diagnostics.js';
import { normalizeMac, formatMac } from '../../util/mac.js';
import type { PbxConfig } from '../../config/schema.js';
import { serverFindings } from '../../diagnostics/checks.js';
import { Dashboard } from '../contract.js';
import { summarizeDevices } from '../device-summary.js';
import type { Device } from '../../provisioning/devices.js';

/** The services these routes use (and nothing else of the application). */
export type UiDeps = Pick<Pbx, 'checks' | 'config' | 'devices' | 'extensions' | 'files' | 'requestLog' | 'resync' | 'tokens' | 'vendors'> & { sip: Pick<SipParts, 'calls' | 'location'> };

const MacParams = Type.Object({ mac: Type.String() });
const DashboardQuery = Type.Object({
  since: Type.Optional(Type.String({ description: 'ISO time the "calls today" count starts at (the browser\'s local midnight); default 24 hours ago' })),
  hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168, description: 'Hours of provisioning activity; default 24' })),
});
const PreviewQuery = Type.Object({
  url_format: Type.Optional(Type.String()),
  external_ip: Type.Optional(Type.String()),
  api_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  mac: Type.Optional(Type.String({ description: 'A device whose URL to show; default the first device' })),
});

export const MASK = '••••••••';

/** The file with every secret it carries replaced by a mask: known values first, then password-like keys. */
export function maskSecrets(body: string, secrets: string[]): string {
  let out = body;
  for (const s of [...new Set(secrets)].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(s).join(MASK);
  // A key naming a password, a secret or a PIN ("pin" as a word: not "ping", "mapping").
  const key = String.raw`[\w.\-\[\]]*(?:password|passwd|secret|(?<![a-z])pin(?![a-z]))[\w.\-\[\]]*`;
  return out
    .replace(new RegExp(`^(\\s*${key}\\s*[=:]\\s*)(?!${MASK})(\\S.*?)\\s*$`, 'gim'), `$1${MASK}`)
    .replace(new RegExp(`(<(${key})(?:\\s[^>]*)?>)(?!${MASK})([^<]+)(</\\2>)`, 'gi'), `$1${MASK}$4`)
    .replace(new RegExp(`(\\s${key}\\s*=\\s*")(?!${MASK})([^"]+)(")`, 'gi'), `$1${MASK}$3`);
}

export function uiRoutes(pbx: UiDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/auth/me', { schema: { tags: ['auth'], summary: 'Who this token belongs to: name and role' } }, async (req) => {
      const row = await pbx.tokens.describe(req.tokenId!);
      const name = row?.name ?? '';
      return {
        name: name.replace(/^session:/, ''),
        kind: name.startsWith('session:') ? 'session' : 'api-token',
        role: req.role,
        expires_at: row?.expires_at ?? null,
      };
    });

    app.get('/dashboard', { schema: { tags: ['status'], summary: 'Dashboard figures: registrations, calls, sync states, provisioning activity per hour, problems', querystring: DashboardQuery, response: { 200: Dashboard } } }, async (req) => {
      const hours = req.query.hours ?? 24;
      const since = req.query.since ?? new Date(Date.now() - 86_400_000).toISOString();
      const from = new Date(Date.now() - (hours - 1) * 3_600_000).toISOString().slice(0, 13);
      const rows = await pbx.requestLog.perHour(from);
      const activity = Array.from({ length: hours }, (_, i) => {
        const h = new Date(Date.now() - (hours - 1 - i) * 3_600_000).toISOString().slice(0, 13);
        const of = rows.filter((r) => r.hour === h);
        const delivered = of.filter((r) => r.outcome === 'delivered').reduce((a, r) => a + r.n, 0);
        const all = of.reduce((a, r) => a + r.n, 0);
        return { hour: `${h}:00:00.000Z`, delivered, failed: all - delivered };
      });
      const callsToday = await pbx.sip.calls.countSince(since);
      // Every phone's sync state, found once (it may render files) for both the counts and the problems.
      const devices = pbx.checks.devices();
      const known = { devices, states: await pbx.checks.syncStates(devices) };
      const phones = await summarizeDevices(devices, (n) => pbx.sip.location.isRegistered(n), (_, i) => known.states[i]!);
      const c = pbx.config();
      const ipProblem = externalIpProblem(c.server.external_ip);
      const problems = [
        ...(await serverFindings(pbx.checks, known)).filter((f) => !f.ok),
        ...warnings(c, []).filter((w) => w !== ipProblem).map((message) => ({ check: 'provisioning', ok: false, message })),
      ];
      return {
        registrations: pbx.sip.location.count,
        registered_extensions: pbx.sip.location.registeredAors,
        extensions: pbx.extensions.count,
        devices: phones.devices,
        devices_registered: phones.registered,
        active_calls: pbx.sip.calls.list().length,
        calls_today: callsToday,
        sync: phones.sync,
        activity,
        problems,
      };
    });

    app.get(
      '/provisioning/devices/:mac/preview',
      { schema: { tags: ['provisioning'], summary: 'The file the device would get now, secrets masked, with its live config URL', params: MacParams } },
      async (req) => {
        const device = pbx.devices.require(DeviceService.parseMac(req.params.mac));
        const r = pbx.files.renderDeviceFile(device);
        const secrets = device.lines.flatMap((n) => {
          const e = pbx.extensions.get(n);
          // A short PIN could equal unrelated text (a port number): PINs are masked by their key only.
          return e ? [e.secret] : [];
        });
        secrets.push(device.credential.password);
        return {
          mac_address: device.mac,
          file: r.fileName,
          config_url: pbx.files.configUrl(device),
          outcome: r.outcome,
          detail: r.detail ?? (r.extension ? `extension ${r.extension} not found` : null),
          content_type: r.contentType ?? null,
          content: r.body === undefined ? null : maskSecrets(r.body, secrets),
          sync_state: await pbx.resync.state(device),
        };
      },
    );

    app.get('/provisioning/adoption', { schema: { tags: ['provisioning'], summary: 'Unknown phones that asked for a file, with vendor and model guessed from the MAC prefix and User-Agent' } }, async () => {
      const requests = await pbx.requestLog.list({ outcome: 'unknown_device', limit: 1000 });
      const byMac = new Map<string, Adoptable>();
      for (const r of requests) {
        if (!r.mac || pbx.devices.get(r.mac)) continue;
        const seen = byMac.get(r.mac);
        if (seen) {
          seen.requests++;
          seen.first_seen = r.at;
          seen.vendor ??= r.vendor;
          seen.model ??= r.model;
          continue;
        }
        const fromUa = r.user_agent ? pbx.vendors.identify(r.user_agent) : undefined;
        const oui = pbx.vendors.byOui(formatMac(r.mac, 'colon-upper').slice(0, 8));
        byMac.set(r.mac, {
          mac_address: r.mac,
          first_seen: r.at,
          last_seen: r.at,
          requests: 1,
          last_ip: r.ip,
          last_file: r.path.slice(r.path.lastIndexOf('/') + 1),
          user_agent: r.user_agent,
          vendor: fromUa?.vendor.id ?? r.vendor ?? oui?.id ?? null,
          model: fromUa?.model ?? r.model ?? null,
          guessed_from: fromUa ? 'user-agent' : oui ? 'mac-prefix' : null,
        });
      }
      // A guessed model must be one this server knows; otherwise leave the choice to the admin.
      const queue = [...byMac.values()].map((a) => ({ ...a, model: a.vendor && a.model ? (pbx.vendors.model(a.vendor, a.model)?.id ?? null) : null }));
      return { unknown: queue };
    });

    app.get(
      '/provisioning/url-preview',
      { schema: { tags: ['provisioning'], summary: 'The config URL a phone would get with these settings, and what a port change would do', querystring: PreviewQuery } },
      async (req) => {
        const current = pbx.config();
        const next: PbxConfig = structuredClone(current);
        const q = req.query;
        if (q.url_format !== undefined) next.provisioning.url_format = q.url_format;
        if (q.external_ip !== undefined) next.server.external_ip = q.external_ip;
        if (q.api_port !== undefined) next.api.port = q.api_port;
        const mac = q.mac ? normalizeMac(q.mac) : null;
        if (q.mac && !mac) throw new PbxError('invalid', `"${q.mac}" is not a MAC address`, 'mac');
        const device = mac ? pbx.devices.get(mac) : firstByMac(pbx.devices.all());
        const vendor = device ? pbx.vendors.get(device.vendor) : undefined;
        const sampleMac = device?.mac ?? mac ?? '001565000001';
        let url: string;
        let server: string;
        try {
          url = deriveConfigUrl(next, sampleMac, vendor?.macForm ?? 'lower');
          server = provisioningEndpoint(next).baseUrl + '/';
          new URL(url);
        } catch {
          throw new PbxError('invalid', 'url_format does not give a valid URL with these values', 'url_format');
        }
        const portChange = next.api.port !== current.api.port;
        const phones = portChange ? await summarizeDevices(pbx.devices.all(), (n) => pbx.sip.location.isRegistered(n)) : null;
        return {
          config_url: url,
          provisioning_server: server,
          mac_address: sampleMac,
          vendor: device?.vendor ?? null,
          current_url: device ? pbx.files.configUrl(device) : deriveConfigUrl(current, sampleMac, 'lower'),
          port_change: portChange
            ? {
                from: current.api.port,
                to: next.api.port,
                legacy_grace_days: current.provisioning.legacy_grace_days,
                auto_resync: current.provisioning.auto_resync,
                devices: phones!.devices,
                devices_registered: phones!.registered,
                provisioning_port_moves: current.provisioning.http_port === 0,
              }
            : null,
        };
      },
    );
  };
}

interface Adoptable {
  mac_address: string;
  first_seen: string;
  last_seen: string;
  requests: number;
  last_ip: string;
  last_file: string;
  user_agent: string | null;
  vendor: string | null;
  model: string | null;
  guessed_from: 'user-agent' | 'mac-prefix' | null;
}

/** The device with the lowest MAC (the preview's sample), without sorting them all. */
function firstByMac(devices: Iterable<Device>): Device | undefined {
  let first: Device | undefined;
  for (const d of devices) if (!first || d.mac < first.mac) first = d;
  return first;
}
