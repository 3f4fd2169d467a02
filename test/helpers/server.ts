// Starts the real `pbx` process (the built dist/, as `npm start` runs it) on free
// ports in a temporary folder, and talks to it over real HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const PBX_BIN = join(ROOT, 'bin/pbx.js');
/** The node flags `npm start` and pbx.service serve with that change how the server behaves: two V8 helper threads, UDP sends queued and batched by libuv. */
export const SERVE_NODE_FLAGS = ['--v8-pool-size=2', '--test-udp-no-try-send'];

/** Ports already handed out by this test process: the kernel may offer a closed one again. */
const handedOut = new Set<number>();

/** A TCP port free on 127.0.0.1 now, never one this process was given before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((ok, fail) => {
      const s = createServer();
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** A port free for both TCP and UDP on 127.0.0.1 (SIP listens on both). */
export async function freeSipPort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  for (;;) {
    const port = await freePort();
    const ok = await new Promise<boolean>((done) => {
      const u = createSocket('udp4');
      u.once('error', () => done(false));
      u.bind(port, '127.0.0.1', () => u.close(() => done(true)));
    });
    if (ok) return port;
  }
}

export function tempDir(prefix = 'pbx-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface ConfigOptions {
  port: number;
  /** SIP port; 0 picks a free one. */
  sipPort?: number;
  externalIp?: string;
  urlFormat?: string;
  extra?: string;
  /** More keys of the server section (each line indented by two spaces). */
  serverExtra?: string;
  logLevel?: string;
  /** A postgres:// URL: use PostgreSQL instead of SQLite in data/. */
  postgresUrl?: string;
}

/** PBX_TEST_HTTP_WORKERS=n runs every server the tests start with n HTTP worker processes (api.workers). */
export const HTTP_WORKERS = Number(process.env['PBX_TEST_HTTP_WORKERS'] ?? 0);

export function writeConfig(dir: string, o: ConfigOptions & { sipPort: number }): string {
  const file = join(dir, 'config.yml');
  writeFileSync(
    file,
    `server:
  name: test-pbx
  external_ip: ${o.externalIp ?? '127.0.0.1'}
  sip_port: ${o.sipPort}
  sip_host: 127.0.0.1
${o.serverExtra ?? ''}api:
  host: 127.0.0.1
  port: ${o.port}
${HTTP_WORKERS ? `  workers: ${HTTP_WORKERS}\n` : ''}provisioning:
  url_format: "${o.urlFormat ?? 'http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg'}"
  site:
    timezone: Europe/Berlin
database:
${o.postgresUrl ? `  type: postgresql\n  url: "${o.postgresUrl}"` : '  path: data/pbx.db'}
logging:
  level: ${o.logLevel ?? 'debug'}
${o.extra ?? ''}`,
  );
  return file;
}

/** Runs a pbx CLI command to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [PBX_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => ok({ code: code ?? -1, stdout, stderr }));
  });
}

export class RunningServer {
  log = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly configFile: string,
    readonly port: number,
  ) {
    child.stdout!.on('data', (d) => (this.log += d));
    child.stderr!.on('data', (d) => (this.log += d));
    this.exited = new Promise((ok) => child.on('exit', (code) => ok(code)));
  }

  static async start(configFile: string, port: number, env: Record<string, string> = {}): Promise<RunningServer> {
    const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...(process.env['PBX_EXEC_ARGV'] ? process.env['PBX_EXEC_ARGV'].split(' ') : []), PBX_BIN, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const server = new RunningServer(child, configFile, port);
    try {
      // With HTTP workers three processes load the whole program: on two busy cores that took over 15 s once.
      await server.waitForLog(/"API port: \d+/, 30_000);
    } catch (err) {
      // A server nobody will stop would keep this test file, and the suite, running for ever.
      await server.kill9();
      throw err;
    }
    return server;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async waitForLog(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.log)) {
      if (this.child.exitCode !== null) throw new Error(`server exited (${this.child.exitCode}) before logging ${pattern}:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in log:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * The log with every line the server had written so far: it sends its lines out within
   * 50 ms (util/buffered-output.ts). For asserting that something was NOT logged.
   */
  async settledLog(): Promise<string> {
    await new Promise((r) => setTimeout(r, 250));
    return this.log;
  }

  /** Graceful stop (SIGTERM), as systemctl stop does. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** kill -9: no shutdown code runs. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Log lines as parsed JSON objects. */
  lines(): { level: string; msg: string; [k: string]: unknown }[] {
    return this.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }

  async api(method: string, path: string, token: string | null, body?: unknown) {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  async fetchFile(file: string, userAgent: string) {
    const res = await fetch(`${this.base}/provision/${file}`, { headers: { 'user-agent': userAgent } });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
  }
}

export async function createToken(configFile: string): Promise<string> {
  const r = await runCli(['token', 'create', '--name', 'tests', '--config', configFile]);
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** The security log of the server whose config is in `dir`, once it holds `line` (it is written through a buffered stream), or as it is after 2 s. */
export async function securityLogWith(dir: string, line: RegExp): Promise<string> {
  const file = join(dir, 'data', 'security.log');
  const read = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  for (const until = Date.now() + 2000; !line.test(read()) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  return read();
}
