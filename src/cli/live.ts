// Live state (registrations, active calls) lives in the running server's memory. The CLI
// reaches it through the local API with a token it mints for one minute and revokes.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Pbx } from '../application.js';
import { PbxError } from '../pbx/errors.js';

export async function fromRunningServer<T>(pbx: Pbx, path: string, post?: unknown): Promise<T> {
  const config = pbx.config();
  const role = post === undefined ? 'read-only' : 'admin';
  const { token, info } = await pbx.tokens.create('pbx-cli (temporary)', role, new Date(Date.now() + 60_000).toISOString());
  try {
    const secure = config.api.ssl.enabled;
    const host = ['0.0.0.0', '::'].includes(config.api.host) ? '127.0.0.1' : config.api.host;
    return await new Promise<T>((ok, fail) => {
      const req = (secure ? httpsRequest : httpRequest)(
        {
          host,
          port: config.api.port,
          path,
          method: post === undefined ? 'GET' : 'POST',
          headers: { authorization: `Bearer ${token}`, ...(post === undefined ? {} : { 'content-type': 'application/json' }) },
          rejectUnauthorized: false,
          timeout: 15_000,
        },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => {
            if (res.statusCode !== 200 && res.statusCode !== 202) return fail(new PbxError('invalid', `The server answered ${res.statusCode}: ${body}`));
            ok(JSON.parse(body) as T);
          });
        },
      );
      req.on('error', () => fail(new PbxError('not_found', `pbx is not running on ${host}:${config.api.port} (start it with \`pbx serve\`)`)));
      req.end(post === undefined ? undefined : JSON.stringify(post));
    });
  } finally {
    await pbx.tokens.revoke(info.id);
  }
}
