// `pbx cert self-signed`: a lab certificate with the names phones will use (the
// external IP and any DNS names), made with the system's openssl. Real deployments use
// a certificate from a CA the phones trust (docs/SECURITY.md).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { PbxError } from '../pbx/errors.js';

export interface CertFiles {
  cert: string;
  key: string;
}

export function selfSignedCertificate(dir: string, names: string[], days: number): CertFiles {
  if (names.length === 0) throw new PbxError('invalid', 'name at least one address or host name');
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'pbx-cert.pem');
  const key = join(dir, 'pbx-key.pem');
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(days), '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    const msg = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new PbxError('invalid', `openssl could not make the certificate (is the openssl package installed?): ${msg}`);
  }
  chmodSync(key, 0o600);
  return { cert, key };
}
