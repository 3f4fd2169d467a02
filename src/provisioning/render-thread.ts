// The body of a render thread (render-threads.ts): makes the same Liquid engine as the
// main thread (templates.ts liquidEngine), parses each template file once per templates
// generation, keeps the shared contexts it is sent (render-threads.ts), and answers each job
// with the file and its SHA-256. Knows nothing of devices or secrets beyond what a job carries.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Liquid, Template } from 'liquidjs';
import { withShared, type CommonContext } from './context.js';
import { liquidEngine } from './templates.js';
import type { RenderJob, RenderReply } from './render-threads.js';

let generation = -1;
const engines = new Map<string, Liquid>();
const parsed = new Map<string, Template[]>();
/** The shared contexts the main thread sent, by number (it tells when to forget them). */
const shared = new Map<number, CommonContext>();

function render(job: RenderJob): { body: string; hash: string } {
  // Kept first, whatever fails below: the main thread counts it as sent from now on.
  if (job.forget) shared.clear();
  if (job.shared) shared.set(job.sharedId, job.shared);
  if (job.generation !== generation) {
    // Templates changed on the main thread (a save, a new folder): forget every parse.
    engines.clear();
    parsed.clear();
    generation = job.generation;
  }
  const engineKey = `${job.spec.xml ? 'xml' : 'text'}\0${job.spec.roots.join('\0')}`;
  let engine = engines.get(engineKey);
  if (!engine) engines.set(engineKey, (engine = liquidEngine(job.spec)));
  const fileKey = `${engineKey}\0${job.file}`;
  let template = parsed.get(fileKey);
  if (!template) parsed.set(fileKey, (template = engine.parse(readFileSync(job.file, 'utf8'), job.file)));
  const common = shared.get(job.sharedId);
  if (!common) throw new Error(`shared context ${job.sharedId} was never sent to this thread`);
  const body = engine.renderSync(template, withShared(common, job.own)) as string;
  return { body, hash: createHash('sha256').update(body).digest('hex') };
}

parentPort!.on('message', (job: RenderJob) => {
  let reply: RenderReply;
  try {
    reply = { id: job.id, ...render(job) };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message.split('\n')[0] ?? 'render failed' };
  }
  parentPort!.postMessage(reply);
});
