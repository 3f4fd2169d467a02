// A running baresip (Debian's), driven through its stdin menu and read from its output.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class Baresip {
  out = '';
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d) => (this.out += d));
    child.stderr.on('data', (d) => (this.out += d));
  }
  send(cmd: string): void {
    this.child.stdin.write(`${cmd}\n`);
  }
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.out)) {
      if (Date.now() > deadline) throw new Error(`baresip never printed ${re}:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface BaresipAccount {
  extension: string;
  password: string;
  server: { host: string; port: number };
  /** Where it listens for SIP (it also takes port+1 for TLS: keep instances apart). */
  listenPort: number;
  /** A WAV file it plays as its microphone (aufile); none: no audio source. */
  microphone?: string;
  /** auto: answers every call at once; manual: rings until told /accept. */
  answerMode?: 'auto' | 'manual';
}

/** Starts Debian's baresip in `dir` with one account (PCMU, MD5 digest) and waits for its registration. */
export async function startBaresip(dir: string, a: BaresipAccount): Promise<Baresip> {
  const cfg = join(dir, `baresip-${a.extension}-${a.listenPort}`);
  mkdirSync(cfg, { recursive: true });
  writeFileSync(
    join(cfg, 'config'),
    [
      'poll_method poll',
      `sip_listen 127.0.0.1:${a.listenPort}`,
      'sip_trans_def udp',
      a.microphone ? `audio_source aufile,${a.microphone}` : 'audio_source aubridge,nowhere',
      'audio_player aubridge,nowhere',
      'audio_alert aubridge,nowhere',
      'module_path /usr/lib/baresip/modules',
      'module stdio.so',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      'module_app account.so',
      'module_app menu.so',
      '',
    ].join('\n'),
  );
  writeFileSync(join(cfg, 'accounts'), `<sip:${a.extension}@${a.server.host}:${a.server.port}>;auth_pass=${a.password};regint=300;audio_codecs=PCMU;answermode=${a.answerMode ?? 'auto'}\n`);
  // Line-buffered, so each event is readable when it happens (stdout is a pipe here).
  const b = new Baresip(spawn('stdbuf', ['-oL', '-eL', 'baresip', '-f', cfg], { cwd: cfg }));
  await b.waitFor(/registered successfully/);
  return b;
}
