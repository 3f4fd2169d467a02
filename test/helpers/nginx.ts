// Debian's nginx started for a test with the upstream config the docs ship
// (contrib/nginx/pbx.conf) as it is, but for the nodes' addresses and the listening
// port: wrapped in a minimal main config (pid, logs and temp paths in a temp dir).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, tempDir } from './server.ts';

export const NGINX_SITE = join(ROOT, 'contrib/nginx/pbx.conf');

export class Nginx {
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** nginx on 127.0.0.1 in front of the nodes' API ports. */
  static async start(nodePorts: number[]): Promise<Nginx> {
    const dir = tempDir('pbx-nginx-');
    const port = await freePort();
    const site = readFileSync(NGINX_SITE, 'utf8');
    const first = /^( *)server 10\.0\.0\.\d+:8080 (.*);$/m.exec(site);
    if (!first || !/^ *listen 80;$/m.test(site)) throw new Error(`${NGINX_SITE}: no example upstream server or no "listen 80;"`);
    const servers = nodePorts.map((p) => `${first[1]}server 127.0.0.1:${p} ${first[2]};`).join('\n');
    const ours = site
      .replace(/^ *server 10\.0\.0\.\d+:8080 .*;\n/gm, '')
      .replace(/^( *upstream pbx_http \{\n)/m, `$1${servers}\n`)
      .replace(/^( *)listen 80;$/m, `$1listen 127.0.0.1:${port};`);
    writeFileSync(join(dir, 'pbx.conf'), ours);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n` +
        `  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};\n` +
        `  include ${dir}/pbx.conf;\n}\n`,
    );
    execFileSync('nginx', ['-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
    for (const until = Date.now() + 5000; !existsSync(join(dir, 'nginx.pid')); ) {
      if (Date.now() > until) throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return new Nginx(port, dir);
  }

  async stop(): Promise<void> {
    const pid = Number(readFileSync(join(this.dir, 'nginx.pid'), 'utf8'));
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (const until = Date.now() + 3000; existsSync(join(this.dir, 'nginx.pid')) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  }
}
