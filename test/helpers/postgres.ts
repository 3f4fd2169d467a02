// A throwaway PostgreSQL server for tests: a fresh cluster (initdb) in a temporary
// folder, started with Debian's binaries (/usr/lib/postgresql/<version>/bin, the
// `postgresql` package) on a free port of 127.0.0.1 and a unix socket in that folder,
// and removed again by stop(). Nothing depends on the cluster Debian may have created
// and started on port 5432, and nothing touches it.
//
// initdb and postgres refuse to run as root: as root they run as the `postgres` user
// (runuser), which owns the folder; as any other user they run as that user.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './server.ts';

export interface TestPostgres {
  /** The superuser's password (TCP logins need one: scram-sha-256). */
  readonly superPassword: string;
  readonly port: number;
  /** Folder of the unix socket (`host=` for libpq and node-postgres). */
  readonly socketDir: string;
  readonly version: string;
  /** Creates a login role and a database it owns; returns its postgres:// URL over TCP. */
  createDatabase(name: string, owner?: string): Promise<string>;
  /** Restarts the server (every client connection is cut), as an upgrade or a crash would. */
  restart(): void;
  /** Stops the server (connections refused) until `resume()`. */
  pause(): void;
  resume(): void;
  /** Runs SQL as the superuser over the unix socket. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], database?: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** The newest installed server version's bin folder; PG_BIN overrides. */
export function postgresBin(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql, or set PG_BIN)');
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const argv = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, cmd), ...args] : [join(bin, cmd), ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: '/' });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  };
  // The postgres user must reach the folder: a private TMPDIR (e.g. under /root) will not do.
  const base = asRoot && spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', tmpdir()]).status !== 0 ? '/tmp' : tmpdir();
  const dir = mkdtempSync(join(base, 'pbx-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const superPassword = `pw${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o644 });
  // C locale: always present, and text sorts byte-wise as in SQLite. Local (socket) logins
  // are trusted, TCP ones need a password, as on a real install.
  const init = run('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync']);
  rmSync(pwfile, { force: true });
  if (!init.ok) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed:\n${init.output}`);
  }

  const ctl = (...args: string[]) => run('pg_ctl', ['-D', data, ...args]);
  /** Starts the server with these `postgres` options (the first start picks them; resume() reuses them). */
  const pgStart = (opts: string) => ctl('-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', opts, 'start');
  let port = 0;
  let started = false;
  let lastOutput = '';
  let startOpts = '';
  // Another process may take the free port between the check and the start: try again.
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    port = await freePort();
    const opts = [
      `-p ${port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${dir}'`,
      // Throwaway data: durability off for speed, small memory for a 2-core CI box.
      '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
      '-c shared_buffers=16MB -c max_connections=60',
    ].join(' ');
    const r = pgStart(opts);
    started = r.ok;
    startOpts = opts;
    lastOutput = r.output;
  }
  if (!started) {
    const log = existsSync(join(dir, 'server.log')) ? spawnSync('tail', ['-n', '30', join(dir, 'server.log')], { encoding: 'utf8' }).stdout : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pg_ctl start failed:\n${lastOutput}\n${log}`);
  }
  const version = run('postgres', ['--version']).output.trim();

  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    ctl('-m', 'immediate', '-w', 'stop');
    rmSync(dir, { recursive: true, force: true });
  };
  // If the test process ends without stop() (a failure, a timeout's SIGTERM, Ctrl-C),
  // the server (a daemon) must not outlive it.
  const onSignal = (signal: NodeJS.Signals) => {
    stopNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', stopNow);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = [], database = 'postgres'): Promise<T[]> => {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  };

  const passwords = new Map<string, string>();
  return {
    superPassword,
    port,
    socketDir: dir,
    version,
    query,
    async createDatabase(name: string, owner = name) {
      let password = passwords.get(owner);
      if (!password) {
        password = `pw-${Math.random().toString(36).slice(2)}`;
        await query(`CREATE ROLE "${owner}" LOGIN PASSWORD '${password}'`);
        passwords.set(owner, password);
      }
      await query(`CREATE DATABASE "${name}" OWNER "${owner}"`);
      return `postgres://${owner}:${password}@127.0.0.1:${port}/${name}`;
    },
    restart() {
      // -l: the new server's output must not hold this process's pipes open.
      const r = ctl('-l', join(dir, 'server.log'), '-m', 'fast', '-w', '-t', '30', 'restart');
      if (!r.ok) throw new Error(`pg_ctl restart failed:\n${r.output}`);
    },
    pause() {
      const r = ctl('-m', 'fast', '-w', 'stop');
      if (!r.ok) throw new Error(`pg_ctl stop failed:\n${r.output}`);
    },
    resume() {
      const r = pgStart(startOpts);
      if (!r.ok) throw new Error(`pg_ctl start failed:\n${r.output}`);
    },
    async stop() {
      process.removeListener('exit', stopNow);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      stopNow();
    },
  };
}
