// A worker thread running a module that sits beside its caller, from the built .js file, or
// under tsx (tests of the sources) from the .ts file once tsx's loader is in place in the thread.
import { Worker } from 'node:worker_threads';

/** `callerUrl`: the caller's import.meta.url; `name`: the module's file name without extension. */
export function moduleWorker(callerUrl: string, name: string): Worker {
  if (callerUrl.endsWith('.ts')) {
    const source = new URL(`./${name}.ts`, callerUrl).href;
    return new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(source)}); })`, { eval: true });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl));
}
