// Encrypts secrets that must stay readable (SIP passwords are needed in clear to render
// phone files and to compute digests) so that a copy of the database alone reveals none.
// AES-256-GCM with a key file created on first start, readable by the owner only.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const PREFIX = 'enc:v1:';

export class SecretBox {
  private constructor(
    private readonly key: Buffer,
    private readonly file = '(key)',
  ) {}

  static fromKeyFile(file: string): SecretBox {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    }
    chmodSync(file, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`Secret key file ${file} is damaged: expected 32 bytes of base64`);
    return new SecretBox(key, file);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** A key for one purpose (HMAC of the label), stable across restarts like the key file. */
  derive(label: string): Buffer {
    return createHmac('sha256', this.key).update(label).digest();
  }

  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new Error('value is not sealed by this server');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      // Typically a second server on a shared database with a key file of its own.
      throw new Error(
        `A secret in the database was sealed with another key than ${this.file}: every server sharing this database needs a copy of the same security.key_file`,
      );
    }
  }
}
