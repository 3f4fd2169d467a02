// Phone files rendered on worker threads (provisioning.render_threads). A boot storm
// renders one account file per phone, ~0.5 ms of Liquid each: on the event loop that is
// time SIP and every other HTTP request wait for. A thread takes the template's file, the
// engine settings and the render context (plain data) and answers with the body and its
// SHA-256. Threads start on first use and never keep the process alive.
import type { Worker } from 'node:worker_threads';
import { moduleWorker } from '../util/worker-thread.js';
import type { EngineSpec } from './templates.js';

export interface RenderJob {
  id: number;
  spec: EngineSpec;
  /** The template file (the main thread found it; the thread parses it once per generation). */
  file: string;
  /** TemplateCatalog.generation: a new one makes the thread forget its parsed templates. */
  generation: number;
  context: object;
}

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

  constructor(private readonly onLost: (err: Error) => void) {}

  post(job: RenderJob): Promise<Rendered> {
    const w = this.thread();
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
  render(job: Omit<RenderJob, 'id'>): Promise<Rendered> {
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.waiting.size < best.waiting.size) best = t;
    return best.post({ ...job, id: this.nextId++ });
  }

  /** A server starts its threads with it (a one-off command never needs them). */
  start(): void {
    for (const t of this.threads) t.start();
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
