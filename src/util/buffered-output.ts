// Text appended to stdout or a file in blocks of a few kilobytes, off the event loop
// (sonic-boom, pino's writer): a busy server writes a log line per request, and a write per
// line cost the loop a file-system request and its callback each. Lines wait at most
// FLUSH_MS; what is buffered is written when the process exits. A file that cannot be
// opened or written is reported once and its lines are dropped: logging never stops the
// server.
import sonicBoom from 'sonic-boom';

// A CommonJS module whose types describe an ES one: the class is a property of its export.
const { SonicBoom } = sonicBoom;

/** How long a line may wait while the server is quiet. */
const FLUSH_MS = 50;
/** Bytes gathered before a write while the server is busy. */
const BLOCK = 8192;

export interface BufferedOutput {
  write(text: string): void;
  flush(cb?: (err?: Error) => unknown): void;
  flushSync(): void;
  /** Writes what is buffered, then closes the file. */
  end(): Promise<void>;
}

/** What each open output writes when the process exits (one listener for them all). */
const atExit = new Set<() => void>();
let listening = false;

function flushAtExit(flush: () => void): void {
  if (!listening) {
    listening = true;
    process.on('exit', () => {
      for (const f of atExit) f();
    });
  }
  atExit.add(flush);
}

/** `dest`: a file descriptor (1: stdout) or a file path, appended to (its folder made if missing). */
export function bufferedOutput(dest: number | string, opts: { mode?: number; onError?: (err: Error) => void } = {}): BufferedOutput {
  const out = new SonicBoom({
    dest,
    sync: false,
    mkdir: typeof dest === 'string',
    ...(opts.mode === undefined ? {} : { mode: opts.mode }),
    minLength: BLOCK,
    // Bytes, not text: in its text mode sonic-boom measures the UTF-8 length of everything
    // buffered on each write, and one non-ASCII character ("✓ Provisioning config
    // delivered") made that a copy of the whole buffer per line (13 µs a line against 5).
    contentMode: 'buffer',
  });
  // Its types only know text; in buffer mode it takes Buffers. `fd` is -1 until the file is open.
  const stream = out as unknown as { destroyed: boolean; fd: number; write(bytes: Buffer): boolean };
  let failed = false;
  const usable = () => !failed && !stream.destroyed && stream.fd >= 0;
  const flushNow = () => {
    if (usable()) out.flushSync();
  };
  // Our own timer rather than sonic-boom's periodicFlush, which writes to fd -1 (and throws
  // from a timer) once opening the file failed.
  const timer = setInterval(() => {
    if (usable()) out.flush();
  }, FLUSH_MS).unref();
  const stop = () => {
    clearInterval(timer);
    atExit.delete(flushNow);
  };
  flushAtExit(flushNow);
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    stop();
    // A reader that went away (stdout piped to a closed process): nothing to tell it.
    if (err.code !== 'EPIPE') opts.onError?.(err);
  });
  return {
    write: (text) => {
      if (!failed && !stream.destroyed) stream.write(Buffer.from(text));
    },
    flush: (cb) => (usable() ? out.flush(cb) : cb?.()),
    flushSync: flushNow,
    end: () =>
      new Promise<void>((done) => {
        stop();
        if (failed || stream.destroyed) return done();
        out.once('close', () => done());
        out.once('error', () => done());
        out.end();
      }),
  };
}
