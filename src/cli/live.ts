// Live state (registrations, active calls) lives in the running server's memory. The CLI
// reaches it through the local API with a token it mints for one minute and revokes.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Pbx } from '../app.js';
import { PbxError } from '../pbx/errors.js';

export async function fromRunningServer<T>(pbx: Pbx, path: string): Promise<T> {
  const config = pbx.config();
  const { token, info } = await pbx.tokens.create('pbx-cli (temporary)', 'read-only', new Date(Date.now() + 60_000).toISOString());
  try {
    const secure = config.api.ssl.enabled;
    const host = ['0.0.0.0', '::'].includes(config.api.host) ? '127.0.0.1' : config.api.host;
    return await new Promise<T>((ok, fail) => {
      const req = (secure ? httpsRequest : httpRequest)(
        { host, port: config.api.port, path, headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 5000 },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => {
            if (res.statusCode !== 200) return fail(new PbxError('invalid', `The server answered ${res.statusCode}: ${body}`));
            ok(JSON.parse(body) as T);
          });
        },
      );
      req.on('error', () => fail(new PbxError('not_found', `pbx is not running on ${host}:${config.api.port} (start it with \`pbx serve\`)`)));
      req.end();
    });
  } finally {
    await pbx.tokens.revoke(info.id);
  }
}
