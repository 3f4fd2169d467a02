// Phone files rendered on worker threads (provisioning.render_threads). A boot storm
// renders one account file per phone, ~0.5 ms of Liquid each: on the event loop that is
// time SIP and every other HTTP request wait for. A thread takes the template's file, the
// engine settings and the render context (plain data) and answers with the body and its
// SHA-256. Threads start on first use and never keep the process alive.
//
// A job carries the device's own part of the context. The part every phone of a model
// shares (the site, the server, the vendor's settings: most of it) goes to each thread
// once and is named by a number afterwards: copying it into every job cost the event loop
// more than building the job (structured clone, a boot storm's 2,000 renders a second).
import type { Worker } from 'node:worker_threads';
import { SentOnce } from '../util/sent-once.js';
import { moduleWorker } from '../util/worker-thread.js';
import type { CommonContext, DeviceOwnContext } from './context.js';
import type { EngineSpec } from './templates.js';

/** What a render needs, as the caller gives it. */
export interface RenderRequest {
  spec: EngineSpec;
  /** The template file (the main thread found it; the thread parses it once per generation). */
  file: string;
  /** TemplateCatalog.generation: a new one makes the thread forget its parsed templates. */
  generation: number;
  /** The context the device shares with its model's other phones; never changed once made. */
  shared: CommonContext;
  own: DeviceOwnContext;
}

/** A render as a thread receives it. */
export interface RenderJob extends Omit<RenderRequest, 'shared'> {
  id: number;
  /** The shared context's number; `shared` comes with it the first time a thread is sent it. */
  sharedId: number;
  shared?: CommonContext;
  /** Forget every shared context kept so far (the main thread stopped counting them). */
  forget?: boolean;
}

/** Shared contexts a thread keeps at most before both sides start anew. */
const SHARED_KEPT = 256;

export type RenderReply = { id: number; body: string; hash: string } | { id: number; error: string };

export interface Rendered {
  body: string;
  hash: string;
}

/** A template error (the file is at fault), as opposed to a lost thread (retried inline). */
export class RenderError extends Error {}

interface Waiting {
  resolve: (r: Rendered) => void;
  reject: (err: Error) => void;
}

class RenderThread {
  private worker: Worker | null = null;
  readonly waiting = new Map<number, Waiting>();
  /** The shared contexts this thread's worker has been sent, by number. */
  private readonly sent = new SentOnce<CommonContext>(SHARED_KEPT);

  constructor(private readonly onLost: (err: Error) => void) {}

  post(request: RenderRequest, id: number): Promise<Rendered> {
    const w = this.thread();
    const forget = this.sent.startMessage();
    const known = this.sent.known(request.shared);
    const job: RenderJob = { id, spec: request.spec, file: request.file, generation: request.generation, sharedId: known ?? this.sent.add(request.shared), own: request.own };
    if (forget) job.forget = true;
    if (known === undefined) job.shared = request.shared;
    return new Promise((resolve, reject) => {
      // A render someone waits for keeps the process alive; an idle thread does not.
      if (this.waiting.size === 0) w.ref();
      this.waiting.set(job.id, { resolve, reject });
      w.postMessage(job);
    });
  }

  /** Starts the thread now, so the first phones of a storm do not wait for it to load. */
  start(): void {
    this.thread();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
    this.fail(new Error('render thread closed'));
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = moduleWorker(import.meta.url, 'render-thread');
    this.sent.reset();
    w.on('message', (r: RenderReply) => this.receive(r));
    w.on('error', (err) => this.lost(w, err));
    w.on('exit', (code) => this.lost(w, new Error(`render thread exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  private receive(r: RenderReply): void {
    const waiting = this.waiting.get(r.id);
    if (!waiting) return;
    this.waiting.delete(r.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if ('error' in r) waiting.reject(new RenderError(r.error));
    else waiting.resolve({ body: r.body, hash: r.hash });
  }

  private lost(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.onLost(err);
    this.fail(err);
  }

  private fail(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}

export class RenderThreads {
  private readonly threads: RenderThread[];
  private nextId = 1;

  /** `onLost`: a thread failed (its jobs are rejected with a plain Error; the caller renders them inline). */
  constructor(count: number, onLost: (err: Error) => void) {
    this.threads = Array.from({ length: count }, () => new RenderThread(onLost));
  }

  /** Renders on the thread with the fewest jobs waiting. Rejects with RenderError when the template fails. */
  render(request: RenderRequest): Promise<Rendered> {
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.waiting.size < best.waiting.size) best = t;
    return best.post(request, this.nextId++);
  }

  /** A server starts its threads with it (a one-off command never needs them). */
  start(): void {
    for (const t of this.threads) t.start();
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
