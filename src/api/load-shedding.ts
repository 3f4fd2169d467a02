// Under a boot storm the pbx answers phones "busy, come back in a few seconds" (503 with
// Retry-After, which provisioning clients honour) rather than letting connections queue
// until the kernel resets them (a reset is not retried). The measure is the event loop's
// delay (@fastify/under-pressure samples it): when requests wait longer than
// api.shed_delay_ms, phone files are refused at once; the admin and the API are still
// served, so the admin can see what is happening. And the kernel's own refusals (a full
// accept queue: ListenOverflows in /proc/net/netstat) are counted and logged.
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

export async function registerLoadShedding(app: FastifyInstance, o: { maxDelayMs: number; log: Logger; counters: LoadCounters }): Promise<void> {
  if (o.maxDelayMs <= 0) return;
  let lastLog = 0;
  let unlogged = 0;
  await app.register(underPressure, {
    maxEventLoopDelay: o.maxDelayMs,
    sampleInterval: 100,
    retryAfter: RETRY_AFTER_SECONDS,
    pressureHandler: (req, reply, _type, value) => {
      if (!req.url.startsWith('/provision/')) return; // the admin and the API go on
      o.counters.shed++;
      unlogged++;
      if (Date.now() - lastLog >= 10_000) {
        o.log.warn(
          { shed: unlogged, event_loop_delay_ms: Math.round(Number(value)) },
          `Too busy: ${unlogged} phone-file request${unlogged === 1 ? '' : 's'} answered 503 (Retry-After: ${RETRY_AFTER_SECONDS}) in the last 10 s; requests waited ${Math.round(Number(value))} ms (api.shed_delay_ms: ${o.maxDelayMs})`,
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
