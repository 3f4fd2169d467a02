// A SQLite connection on a thread of its own for the writes that come by the thousand
// (bindings while phones register): the batch runs there, in one transaction with its
// fsync, and the event loop that answers SIP never waits on the disk. The main
// connection still does everything else; WAL lets its reads go on meanwhile. Statements
// are compiled on the main side (Kysely's `compile()`) and prepared once here.
//
// A batch names each statement's text by a number once the thread has it: the same few
// texts come back in every batch (a binding's upsert for each registration), and copying
// each into the message (structured clone) cost the event loop more than the parameters.
import type { Worker } from 'node:worker_threads';
import { SentOnce } from '../util/sent-once.js';
import { moduleWorker } from '../util/worker-thread.js';

/** One SQL statement and the parameters of each of its runs. */
export interface StatementRuns {
  sql: string;
  runs: readonly (readonly unknown[])[];
}

/** A batch as the thread receives it: `texts` are the statements it has not been sent before. */
export type WriterRequest = {
  id: number;
  path: string;
  texts?: [number, string][];
  /** Forget every text kept so far (the main side stopped counting them). */
  forget?: boolean;
  batch: { text: number; runs: StatementRuns['runs'] }[];
};
export type WriterReply = { id: number; error?: string };

/** Statement texts kept by number at most before both sides start anew. */
const TEXTS_KEPT = 1000;

export class SqliteWriter {
  private worker: Worker | null = null;
  private next = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  /** The statement texts the current thread has, by number. */
  private readonly texts = new SentOnce<string>(TEXTS_KEPT);

  constructor(private readonly path: string) {}

  /** Runs every statement of the batch in one transaction; resolves once it is committed. */
  run(batch: StatementRuns[]): Promise<void> {
    const id = this.next++;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const w = this.thread();
      w.ref();
      w.postMessage(this.request(id, batch));
    });
    this.inFlight.add(done);
    void done.catch(() => {}).finally(() => this.inFlight.delete(done));
    return done;
  }

  /** Lets what was sent finish (its callers wait for it), then stops the thread. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private readonly inFlight = new Set<Promise<void>>();

  private request(id: number, batch: StatementRuns[]): WriterRequest {
    const request: WriterRequest = { id, path: this.path, batch: [] };
    if (this.texts.startMessage()) request.forget = true;
    for (const { sql, runs } of batch) {
      let text = this.texts.known(sql);
      if (text === undefined) {
        text = this.texts.add(sql);
        (request.texts ??= []).push([text, sql]);
      }
      request.batch.push({ text, runs });
    }
    return request;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = moduleWorker(import.meta.url, 'sqlite-writer-thread');
    this.texts.reset();
    w.on('message', (r: WriterReply) => this.settle(r.id, r.error === undefined ? undefined : new Error(r.error)));
    w.on('error', (err) => this.lost(w, err));
    w.on('exit', (code) => this.lost(w, new Error(`the database writer thread exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  private settle(id: number, err: Error | undefined): void {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (p) {
      if (err) p.reject(err);
      else p.resolve();
    }
    if (this.pending.size === 0) this.worker?.unref();
  }

  /** The thread died: what it had not answered failed (the write-behind reports it); the next run starts a new one. */
  private lost(w: Worker, err: Error): void {
    if (this.worker === w) this.worker = null;
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }
}
