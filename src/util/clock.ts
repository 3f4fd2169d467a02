// The time as ISO 8601 text, made once per millisecond: a busy server stamps many rows
// and log lines within the same millisecond (a phone's fetch stamps three).
let lastMs = -1;
let lastIso = '';

export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
