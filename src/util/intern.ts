// Values many records repeat (a phone model's User-Agent, a transport name, the
// same Contact parameters, the address of an office's NAT) are kept once: at 100,000
// registrations each repeat costs a string of its own (measured with bench/fleet.ts:
// about 90 bytes a binding for these fields). The pool is bounded so values that do
// not repeat (a scanner's made-up User-Agents) cannot grow it without end: past its
// size a value is kept as given.
import { detached } from './detached.js';

export class Interner {
  private readonly pool = new Map<string, string>();

  constructor(private readonly max = 4096) {}

  /** The pooled copy of `s` (a string of its own, see detached()). */
  get(s: string): string {
    const pooled = this.pool.get(s);
    if (pooled !== undefined) return pooled;
    const own = detached(s);
    if (this.pool.size < this.max) this.pool.set(own, own);
    return own;
  }

  /** The same, passing null through. */
  maybe(s: string | null | undefined): string | null {
    return s === null || s === undefined ? null : this.get(s);
  }
}
