// A walk over every phone or extension (100,000 at a big site) that must not hold the event
// loop: SIP is answered on the same loop. Steps that return a promise (a file rendered on a
// render thread) run a bounded number at a time, so the threads' queue stays short for the
// phones' own fetches; and the loop is given back whenever the steps have held it for a
// slice of time (by time, not by count: a step may be a map lookup or a file rendered inline).
import { performance } from 'node:perf_hooks';

/** Unfinished steps at most at once. */
const IN_FLIGHT = 32;
/** Milliseconds of steps between two turns given back to the event loop. */
const SLICE_MS = 10;

/**
 * Runs `step` on every item, in order of start; resolves once every step has finished.
 * `inFlight`: unfinished steps at most at once (a background walk keeps it small, so the
 * phones' own work waits behind few of its steps).
 */
export async function paced<T>(items: Iterable<T>, step: (item: T) => void | Promise<unknown>, inFlight = IN_FLIGHT): Promise<void> {
  let waiting: Promise<unknown>[] = [];
  let sliceStart = performance.now();
  for (const item of items) {
    const done = step(item);
    if (done) waiting.push(done);
    if (waiting.length >= inFlight) {
      await Promise.all(waiting);
      waiting = [];
    }
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  await Promise.all(waiting);
}
