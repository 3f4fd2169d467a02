// Prometheus metrics at /metrics (bearer token, like the API). Values are read from the
// components' own counters when scraped, so nothing on a hot path touches prom-client.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Pbx, SipParts } from '../application.js';
import type { LoadCounters } from './load-shedding.js';

/** What the metrics read. */
export type MetricsDeps = Pick<Pbx, 'devices' | 'guard' | 'provisioning' | 'resync' | 'voicemail'> & {
  sip: Pick<SipParts, 'location' | 'calls' | 'stats' | 'agent' | 'media'>;
};

export function createMetrics(pbx: MetricsDeps, load: LoadCounters = { shed: 0, listenOverflows: 0 }): Registry {
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
  const stats = () => sip.stats();
  counter('pbx_sip_messages_total', 'SIP messages by direction', ['direction'], () => [
    [{ direction: 'received' }, stats().messages.received],
    [{ direction: 'sent' }, stats().messages.sent],
    [{ direction: 'dropped' }, stats().messages.dropped],
  ]);
  counter('pbx_sip_parse_errors_total', 'SIP messages that could not be parsed', [], () => [[{}, stats().transactions.parseErrors]]);
  counter('pbx_sip_requests_refused_total', 'SIP requests dropped before a transaction was made (scanners, banned floods)', [], () => [[{}, stats().transactions.requestsRefused]]);
  counter('pbx_sip_transactions_total', 'SIP transactions created', ['side'], () => [
    [{ side: 'server' }, stats().transactions.serverTransactions],
    [{ side: 'client' }, stats().transactions.clientTransactions],
  ]);
  counter('pbx_sip_challenge_acks_absorbed_total', 'ACKs for 407 challenges (sent statelessly) ended without a transaction', [], () => [[{}, stats().transactions.challengeAcksAbsorbed]]);
  counter('pbx_sip_retransmissions_absorbed_total', 'Request retransmissions absorbed by server transactions', [], () => [[{}, stats().transactions.retransmissionsAbsorbed]]);
  counter('pbx_sip_register_total', 'REGISTER outcomes', ['outcome'], () => [
    [{ outcome: 'accepted' }, stats().registrations.accepted],
    [{ outcome: 'challenged' }, stats().registrations.challenged],
    [{ outcome: 'refused' }, stats().registrations.refused],
  ]);
  counter('pbx_calls_total', 'Calls by stage', ['stage'], () => [
    [{ stage: 'started' }, stats().calls.started],
    [{ stage: 'answered' }, stats().calls.answered],
    [{ stage: 'ended' }, stats().calls.ended],
  ]);
  counter('pbx_http_shed_total', 'Phone-file requests answered 503 (Retry-After) because the server was too busy (api.shed_busy_percent)', [], () => [[{}, load.shed]]);
  counter('pbx_tcp_listen_overflows_total', "TCP connections the kernel refused on this host since start because a listen queue was full (api.backlog)", [], () => [[{}, load.listenOverflows]]);
  gauge('pbx_sip_registrations', 'Live registrations (bindings)', () => sip.location.count);
  gauge('pbx_calls_active', 'Calls in progress', () => sip.calls.list().length);
  gauge('pbx_sip_transactions_active', 'Transactions in progress', () => {
    const t = stats().transactions.active;
    return t.server + t.client;
  });
  gauge('pbx_provisioning_devices', 'Provisioned devices', () => pbx.devices.list().length);
  counter('pbx_bans_total', 'Sources banned', ['service'], () => [
    [{ service: 'sip' }, stats().guard.bans],
    [{ service: 'provisioning' }, pbx.guard.counters.bans],
  ]);
  counter('pbx_banned_dropped_total', 'Requests from banned sources dropped or refused', ['service'], () => [
    [{ service: 'sip' }, stats().guard.dropped],
    [{ service: 'provisioning' }, pbx.guard.counters.refused],
  ]);
  counter('pbx_provisioning_legacy_fetches_total', 'Files served through an old (grace) port', [], () => [[{}, pbx.provisioning.legacyFetches]]);
  counter('pbx_resync_notify_total', 'Resync NOTIFYs by outcome', ['outcome'], () => [
    [{ outcome: 'sent' }, pbx.resync.counters.sent],
    [{ outcome: 'answered' }, pbx.resync.counters.answered],
    [{ outcome: 'challenged' }, pbx.resync.counters.challenged],
    [{ outcome: 'failed' }, pbx.resync.counters.failed],
  ]);
  const agent = sip.agent;
  counter('pbx_service_calls_total', 'Calls the pbx answered itself (voicemail …), by outcome', ['outcome'], () => [
    [{ outcome: 'answered' }, agent.counters.answered],
    [{ outcome: 'refused' }, agent.counters.refused],
    [{ outcome: 'cancelled' }, agent.counters.cancelled],
  ]);
  gauge('pbx_service_calls_active', 'Calls the pbx is answering itself now', () => agent.active);
  counter('pbx_media_packets_total', 'RTP packets of ended service calls', ['kind'], () => [
    [{ kind: 'sent' }, agent.mediaTotals.packetsSent],
    [{ kind: 'received' }, agent.mediaTotals.packetsReceived],
    [{ kind: 'lost' }, agent.mediaTotals.packetsLost],
    [{ kind: 'ignored' }, agent.mediaTotals.packetsIgnored],
  ]);
  gauge('pbx_media_ports_in_use', 'RTP/RTCP port pairs open', () => sip.media.status().portsInUse);
  counter('pbx_media_clock_late_ticks_total', 'Media clock ticks run late (caught up) or dropped (the media thread stalled)', ['kind'], () => [
    [{ kind: 'caught_up' }, sip.media.status().caughtUp],
    [{ kind: 'dropped' }, sip.media.status().dropped],
  ]);
  gauge('pbx_media_clock_late_p99_ms', 'How late the media clock started its ticks, p99 over the last minute (ms)', () => sip.media.status().lateP99Ms);
  gauge('pbx_media_clock_busy_p99_ms', 'How long a media tick took to send every stream, p99 over the last minute (ms)', () => sip.media.status().busyP99Ms);
  const vm = pbx.voicemail;
  counter('pbx_voicemail_messages_total', 'Voicemail messages left', [], () => [[{}, vm.counters.messagesLeft]]);
  counter('pbx_voicemail_mail_total', 'Voicemail mails by outcome (failed = attempts that will be retried)', ['outcome'], () => [
    [{ outcome: 'sent' }, vm.mailer.counters.sent],
    [{ outcome: 'failed' }, vm.mailer.counters.failed],
  ]);
  gauge('pbx_voicemail_mail_pending', 'Voicemail mails waiting for the mail server', () => vm.mailer.pending);
  gauge('pbx_mwi_subscriptions', 'Message-waiting subscriptions', () => vm.mwi.active);
  return registry;
}
