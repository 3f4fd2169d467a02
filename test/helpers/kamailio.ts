// Debian's Kamailio started for a test with the edge config the docs ship
// (contrib/kamailio/kamailio.cfg) as it is: only its defines are set on the command
// line (the listening address and the pbx nodes' list), and the memory flags of the
// systemd drop-in shipped beside it. In the foreground, logging to stderr, which the test
// can read.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeSipPort, ROOT, tempDir } from './server.ts';

export const EDGE_CONFIG = join(ROOT, 'contrib/kamailio/kamailio.cfg');
export const EDGE_SERVICE_DROP_IN = join(ROOT, 'contrib/kamailio/kamailio.service.d/pbx-edge.conf');

/** The drop-in's memory flags: its shared memory size (-m) and what its ExecStart adds after Debian's flags (the allocators). */
export function edgeServiceFlags(): string[] {
  const text = readFileSync(EDGE_SERVICE_DROP_IN, 'utf8');
  const shm = /^Environment='SHM_MEMORY=(\d+)'$/m.exec(text)?.[1];
  const extra = /^ExecStart=\/usr\/sbin\/kamailio .*-M \$PKG_MEMORY (.+)$/m.exec(text)?.[1];
  if (!shm || !extra) throw new Error(`${EDGE_SERVICE_DROP_IN}: no SHM_MEMORY or no ExecStart flags after -M $PKG_MEMORY`);
  return ['-m', shm, ...extra.trim().split(/\s+/)];
}

export class Kamailio {
  log = '';
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (d) => (this.log += d));
    child.stderr?.on('data', (d) => (this.log += d));
  }

  /**
   * The edge on 127.0.0.1, dispatching to `nodes` (SIP URIs of the pbx nodes). `defines`
   * sets more of the config's defines (e.g. PIKE_REQUESTS for a load from one address).
   */
  static async start(nodes: string[], defines: Record<string, string | number> = {}): Promise<Kamailio> {
    const dir = tempDir('pbx-kamailio-');
    const list = join(dir, 'pbx-nodes.list');
    writeFileSync(list, nodes.map((uri) => `1 ${uri}\n`).join(''));
    const port = await freeSipPort();
    const child = spawn('kamailio', ['-DD', '-E', ...edgeServiceFlags(), '-f', EDGE_CONFIG, '-Y', dir, '-A', `EDGE_LISTEN=udp:127.0.0.1:${port}`, '-A', `DISPATCHER_LIST="${list}"`, '-A', 'PROBE_SECONDS=1', ...Object.entries(defines).flatMap(([k, v]) => ['-A', `${k}=${v}`])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const k = new Kamailio(child, port);
    for (const until = Date.now() + 10_000; !/Listening on|INFO: .*main\.c.*: main\(\)/.test(k.log) || !k.log.includes(`:${port}`); ) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`kamailio did not start:\n${k.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return k;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
