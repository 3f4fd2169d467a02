// GET /api/events: server-sent events for the web admin. The server says *what*
// changed (topics); clients re-read what they show. Changes are coalesced for a
// quarter second, so a burst of registrations is one message, not a polling storm.
// Browsers' EventSource cannot send the bearer header, so the web admin reads this
// stream with fetch(); any SSE client that can set a header works too.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Pbx, SipParts } from '../../application.js';
import { arrivedOn, type Arrival } from '../listeners.js';

/** The services these routes use (and nothing else of the application). */
export type EventDeps = Pick<Pbx, 'config' | 'devices' | 'extensions' | 'live' | 'writeBehind'> & { sip: Pick<SipParts, 'calls' | 'location'> };

export type Topic = 'registrations' | 'calls' | 'devices' | 'extensions' | 'config' | 'activity';

interface Subscriber {
  write(chunk: string): void;
  end(): void;
  socket: Socket & { server?: { listening?: boolean } };
  /** The listener the stream came in on (through an HTTP worker: the worker's). */
  arrived: Arrival;
}

const COALESCE_MS = 250;
const PROBE_EVERY_MS = 3000;
const HEARTBEAT_MS = 20_000;

/** Fans pbx changes out to the open event streams. */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private pending = new Set<Topic>();
  private flushTimer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private lastBeat = Date.now();
  private activeCalls = 0;
  /** When each old port was last asked whether it still serves the API. */
  private readonly probed = new Map<number, number>();

  constructor(private readonly pbx: EventDeps) {
    pbx.sip.location.onChange(() => this.publish('registrations'));
    pbx.devices.onChange(() => this.publish('devices'));
    pbx.extensions.onChange(() => this.publish('extensions'));
    pbx.live.onChange(() => this.publish('config'));
    // Request log rows, fetch statistics and CDRs are written behind: one signal per batch.
    pbx.writeBehind.onFlushed(async () => this.publish('activity'));
  }

  get size(): number {
    return this.subscribers.size;
  }

  publish(topic: Topic): void {
    if (this.subscribers.size === 0) return;
    this.pending.add(topic);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const topics = [...this.pending];
      this.pending = new Set();
      this.send('change', { topics });
    }, COALESCE_MS);
  }

  add(s: Subscriber): () => void {
    this.subscribers.add(s);
    this.activeCalls = this.pbx.sip.calls.list().length;
    if (!this.ticker) {
      this.ticker = setInterval(() => this.tick(), 1000);
      this.ticker.unref();
    }
    return () => this.remove(s);
  }

  close(): void {
    for (const s of [...this.subscribers]) this.remove(s, true);
  }

  private remove(s: Subscriber, end = false): void {
    if (!this.subscribers.delete(s)) return;
    if (end) s.end();
    if (this.subscribers.size === 0) {
      clearInterval(this.ticker);
      clearTimeout(this.flushTimer);
      this.ticker = this.flushTimer = undefined;
      this.pending.clear();
    }
  }

  private send(event: string, data: unknown): void {
    const chunk = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of this.subscribers) s.write(chunk);
  }

  /**
   * Once a second: calls (kept in memory, no event of their own), moved or closed
   * listeners, heartbeat. (Extensions and devices another process changed arrive through
   * the services' own change signals when they reload.)
   */
  private tick(): void {
    const calls = this.pbx.sip.calls.list().length;
    if (calls !== this.activeCalls) {
      this.activeCalls = calls;
      this.publish('calls');
    }
    const port = this.pbx.config().api.port;
    const elsewhere = new Map<number, Subscriber[]>();
    for (const s of [...this.subscribers]) {
      if (s.socket.server && s.socket.server.listening === false) {
        // The listener is closing (shutdown): an open stream would keep it waiting.
        this.remove(s, true);
      } else if (s.arrived.port !== undefined && s.arrived.port !== port) {
        elsewhere.set(s.arrived.port, [...(elsewhere.get(s.arrived.port) ?? []), s]);
      }
    }
    // api.port names another port: once the API has really left this one (it could not
    // open a port held by another program), say where it went and end the streams.
    for (const [local, streams] of elsewhere) {
      if (Date.now() - (this.probed.get(local) ?? 0) < PROBE_EVERY_MS) continue;
      this.probed.set(local, Date.now());
      void servesApi(streams[0]!.arrived).then((api) => {
        if (api || this.pbx.config().api.port !== port) return;
        for (const s of streams) {
          if (!this.subscribers.has(s)) continue;
          s.write(`event: moved\ndata: ${JSON.stringify({ api_port: port })}\n\n`);
          this.remove(s, true);
        }
      });
    }
    if (Date.now() - this.lastBeat >= HEARTBEAT_MS) {
      this.lastBeat = Date.now();
      for (const s of this.subscribers) s.write(': keep-alive\n\n');
    }
  }
}

/**
 * Whether the listener a stream came in on still serves the API: a port the API left
 * serves /provision only and answers anything else 404 (or is closed).
 */
function servesApi(arrived: Arrival): Promise<boolean> {
  const secure = arrived.secure;
  const host = (arrived.address ?? '127.0.0.1').replace(/^::ffff:/, '');
  return new Promise((resolve) => {
    let settled = false;
    const ok = (v: boolean) => {
      if (!settled) resolve(v);
      settled = true;
    };
    const req = (secure ? httpsRequest : httpRequest)(
      { host, port: arrived.port, path: '/health', timeout: 2000, rejectUnauthorized: false, headers: { 'user-agent': 'pbx-events' } },
      (res) => {
        res.resume();
        ok(res.statusCode === 200);
      },
    );
    // No answer in time (a loaded server) says nothing: ask again later.
    req.on('timeout', () => (ok(true), req.destroy()));
    req.on('error', () => ok(false));
    req.end();
  });
}

/** Changes when an item is added, removed or updated. */
export function eventRoutes(pbx: EventDeps) {
  return async (app: FastifyInstance) => {
    const hub = new EventHub(pbx);
    app.addHook('onClose', async () => hub.close());

    app.get('/events', { schema: { tags: ['status'], summary: 'Server-sent events: which topics changed (registrations, calls, devices, extensions, config, activity)' } }, (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'close',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ api_port: pbx.config().api.port, role: req.role })}\n\n`);
      const unsubscribe = hub.add({
        socket: req.raw.socket,
        arrived: arrivedOn(req.raw),
        write: (chunk) => res.write(chunk),
        end: () => res.end(),
      });
      // The response closes when the client goes away (the request may close as soon as it is read).
      res.on('close', unsubscribe);
    });
  };
}
