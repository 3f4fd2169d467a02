import type { FastifyInstance } from 'fastify';
import type { Pbx, SipParts } from '../../application.js';

/** What the status route reads. */
export type StatusDeps = Pick<Pbx, 'config' | 'configFile' | 'startedAt' | 'extensions' | 'devices' | 'provisioning' | 'resync'> & {
  database: Pick<Pbx['database'], 'describe'>;
  sip: Pick<SipParts, 'location' | 'calls' | 'stats'>;
};
import { VERSION } from '../../version.js';
import { Status } from '../contract.js';

export function statusRoutes(pbx: StatusDeps) {
  return async (app: FastifyInstance) => {
    app.get('/status', { schema: { tags: ['status'], summary: 'Server status', response: { 200: Status } } }, async () => {
      const config = pbx.config();
      return {
        version: VERSION,
        started_at: pbx.startedAt.toISOString(),
        uptime_seconds: Math.round((Date.now() - pbx.startedAt.getTime()) / 1000),
        config_file: pbx.configFile,
        database: pbx.database.describe,
        api_port: config.api.port,
        sip_port: config.server.sip_port,
        external_ip: config.server.external_ip,
        provisioning_enabled: config.provisioning.enabled,
        counts: {
          extensions: pbx.extensions.count,
          devices: pbx.devices.count,
          registrations: pbx.sip.location.count,
          active_calls: pbx.sip.calls.list().length,
        },
        sip: (({ listeners, messages, transactions, registrations, calls }) => ({ listeners, messages, transactions, registrations, calls }))(pbx.sip.stats()),
        provisioning: { legacy_fetches: pbx.provisioning.legacyFetches, resync: pbx.resync.counters },
      };
    });
  };
}
