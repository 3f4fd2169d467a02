// Under a boot storm the pbx answers phones "busy, come back in a few seconds" (503 with
// Retry-After, which provisioning clients honour) rather than letting connections queue
// until the kernel resets them (a reset is not retried). The measure is how busy the
// event loop was over the last second (its utilization, sampled by
// @fastify/under-pressure): a storm of short requests keeps the loop turning (its delay
// stays low) while connections pile up in the kernel's queue, but it leaves the loop no
// idle time. Above api.shed_busy_percent (0, off, by default: docs/PERFORMANCE.md)
// phone files are refused at once; the admin and the API are still served, so the
// admin can see what is happening. And the kernel's own refusals (a full accept queue:
// ListenOverflows in /proc/net/netstat) are counted and logged.
import { readFile } from 'node:fs/promises';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export const RETRY_AFTER_SECONDS = 5;

export interface LoadCounters {
  /** Phone-file requests answered 503 because the server was too busy. */
  shed: number;
  /** Connections the kernel refused on this host because a listen queue was full (Linux). */
  listenOverflows: number;
}

export async function registerLoadShedding(app: FastifyInstance, o: { busyPercent: number; log: Logger; counters: LoadCounters }): Promise<void> {
  if (o.busyPercent <= 0) return;
  let lastLog = 0;
  let unlogged = 0;
  // The start itself (migrations, templates, listeners) keeps the loop busy for a moment:
  // nothing is shed until requests have been coming for a few seconds.
  let firstRequest = 0;
  app.addHook('onRequest', async () => {
    firstRequest ||= Date.now();
  });
  await app.register(underPressure, {
    maxEventLoopUtilization: o.busyPercent / 100,
    eventLoopUtilizationMode: 'interval',
    sampleInterval: 1000,
    retryAfter: RETRY_AFTER_SECONDS,
    pressureHandler: (req, reply, _type, value) => {
      if (!req.url.startsWith('/provision/')) return; // the admin and the API go on
      if (firstRequest === 0 || Date.now() - firstRequest < 3000) return;
      o.counters.shed++;
      unlogged++;
      if (Date.now() - lastLog >= 10_000) {
        const busy = Math.round(Number(value) * 100);
        o.log.warn(
          { shed: unlogged, busy_percent: busy },
          `Too busy: ${unlogged} phone-file request${unlogged === 1 ? '' : 's'} answered 503 (Retry-After: ${RETRY_AFTER_SECONDS}) in the last 10 s; the server was ${busy} % busy (api.shed_busy_percent: ${o.busyPercent})`,
        );
        lastLog = Date.now();
        unlogged = 0;
      }
      // Sent here: fastify routes no further a request whose reply is sent.
      void reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).type('text/plain; charset=utf-8').send('Service Unavailable: busy, retry later\n');
    },
  });
}

/** Host-wide TcpExt ListenOverflows, or null where the kernel does not say (not Linux). */
async function listenOverflows(): Promise<number | null> {
  try {
    const lines = (await readFile('/proc/net/netstat', 'utf8')).split('\n').filter((l) => l.startsWith('TcpExt:'));
    if (lines.length < 2) return null;
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const i = names.indexOf('ListenOverflows');
    return i > 0 ? Number(values[i]) : null;
  } catch {
    return null;
  }
}

/** Watches the kernel's listen-queue overflows every 10 s; returns a function that stops. */
export function watchListenOverflows(o: { backlog: number; log: Logger; counters: LoadCounters }): () => void {
  let base: number | null = null;
  let last = 0;
  const check = async () => {
    const now = await listenOverflows();
    if (now === null) return;
    if (base === null) base = now;
    o.counters.listenOverflows = now - base;
    const fresh = o.counters.listenOverflows - last;
    last = o.counters.listenOverflows;
    if (fresh > 0) {
      o.log.warn(
        { refused: fresh },
        `The kernel refused ${fresh} TCP connection${fresh === 1 ? '' : 's'} on this host in the last 10 s: a listening socket's queue was full (api.backlog: ${o.backlog}; net.core.somaxconn caps it). Phones get a reset, not a retry: raise both, or add nodes (docs/SCALING.md)`,
      );
    }
  };
  void check();
  const timer = setInterval(() => void check(), 10_000);
  timer.unref();
  return () => clearInterval(timer);
}
