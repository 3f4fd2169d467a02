// Prometheus metrics at /metrics (bearer token, like the API). Values are read from the
// components' own counters when scraped, so nothing on a hot path touches prom-client.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Pbx } from '../app.js';

export function createMetrics(pbx: Pbx): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pbx_process_' });
  const counter = (name: string, help: string, labels: string[], read: () => [Record<string, string>, number][]) =>
    new Counter({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const [l, v] of read()) this.inc(l, v);
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const sip = pbx.sip;
  counter('pbx_sip_messages_total', 'SIP messages by direction', ['direction'], () => [
    [{ direction: 'received' }, sip.stack.transports.counters.received],
    [{ direction: 'sent' }, sip.stack.transports.counters.sent],
    [{ direction: 'dropped' }, sip.stack.transports.counters.dropped],
  ]);
  counter('pbx_sip_parse_errors_total', 'SIP messages that could not be parsed', [], () => [[{}, sip.stack.counters.parseErrors]]);
  counter('pbx_sip_requests_refused_total', 'SIP requests dropped before a transaction was made (scanners, banned floods)', [], () => [[{}, sip.stack.counters.requestsRefused]]);
  counter('pbx_sip_transactions_total', 'SIP transactions created', ['side'], () => [
    [{ side: 'server' }, sip.stack.counters.serverTransactions],
    [{ side: 'client' }, sip.stack.counters.clientTransactions],
  ]);
  counter('pbx_sip_retransmissions_absorbed_total', 'Request retransmissions absorbed by server transactions', [], () => [[{}, sip.stack.counters.retransmissionsAbsorbed]]);
  counter('pbx_sip_register_total', 'REGISTER outcomes', ['outcome'], () => [
    [{ outcome: 'accepted' }, sip.registrar.counters.accepted],
    [{ outcome: 'challenged' }, sip.registrar.counters.challenged],
    [{ outcome: 'refused' }, sip.registrar.counters.refused],
  ]);
  counter('pbx_calls_total', 'Calls by stage', ['stage'], () => [
    [{ stage: 'started' }, sip.calls.counters.started],
    [{ stage: 'answered' }, sip.calls.counters.answered],
    [{ stage: 'ended' }, sip.calls.counters.ended],
  ]);
  gauge('pbx_sip_registrations', 'Live registrations (bindings)', () => sip.location.all().length);
  gauge('pbx_calls_active', 'Calls in progress', () => sip.calls.list().length);
  gauge('pbx_sip_transactions_active', 'Transactions in progress', () => {
    const t = sip.stack.activeTransactions;
    return t.server + t.client;
  });
  gauge('pbx_provisioning_devices', 'Provisioned devices', () => pbx.devices.list().length);
  counter('pbx_bans_total', 'Sources banned', ['service'], () => [
    [{ service: 'sip' }, pbx.sip.guard.counters.bans],
    [{ service: 'provisioning' }, pbx.guard.counters.bans],
  ]);
  counter('pbx_banned_dropped_total', 'Requests from banned sources dropped or refused', ['service'], () => [
    [{ service: 'sip' }, pbx.sip.guard.counters.dropped],
    [{ service: 'provisioning' }, pbx.guard.counters.refused],
  ]);
  counter('pbx_provisioning_legacy_fetches_total', 'Files served through an old (grace) port', [], () => [[{}, pbx.provisioning.legacyFetches]]);
  counter('pbx_resync_notify_total', 'Resync NOTIFYs by outcome', ['outcome'], () => [
    [{ outcome: 'sent' }, pbx.resync.counters.sent],
    [{ outcome: 'answered' }, pbx.resync.counters.answered],
    [{ outcome: 'challenged' }, pbx.resync.counters.challenged],
    [{ outcome: 'failed' }, pbx.resync.counters.failed],
  ]);
  return registry;
}
