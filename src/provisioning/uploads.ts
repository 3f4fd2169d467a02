// Files phones write to the provisioning server (Polycom uploads the settings a user changed
// on the phone or its web page, logs, its directory and call lists), one folder per device
// under provisioning.uploads_dir. A file is replaced whole: written beside, then renamed, so
// a reader never sees half a file and a crash leaves the previous one.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface StoredUpload {
  name: string;
  bytes: number;
  uploadedAt: string;
}

/** Names are a vendor rule's, checked before they get here; this refuses anything else that could leave the folder. */
const SAFE_NAME = /^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/;

export class UploadStore {
  constructor(private readonly dir: () => string) {}

  save(mac: string, name: string, body: Buffer): StoredUpload {
    const folder = this.folder(mac);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const file = join(folder, checked(name));
    const temp = `${file}.${randomBytes(6).toString('hex')}.part`;
    writeFileSync(temp, body, { mode: 0o600 });
    renameSync(temp, file);
    return { name, bytes: body.length, uploadedAt: new Date().toISOString() };
  }

  read(mac: string, name: string): Buffer | undefined {
    if (!SAFE_NAME.test(name)) return undefined;
    try {
      return readFileSync(join(this.folder(mac), checked(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  list(mac: string): StoredUpload[] {
    let names: string[];
    try {
      names = readdirSync(this.folder(mac));
    } catch {
      return [];
    }
    return names
      .filter((n) => SAFE_NAME.test(n) && !n.endsWith('.part'))
      .map((name) => {
        const st = statSync(join(this.folder(mac), name));
        return { name, bytes: st.size, uploadedAt: st.mtime.toISOString() };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The device is gone: so are its files. */
  removeAll(mac: string): void {
    rmSync(this.folder(mac), { recursive: true, force: true });
  }

  private folder(mac: string): string {
    if (!/^[0-9a-f]{12}$/.test(mac)) throw new Error(`not a normalised MAC: ${mac}`);
    return join(this.dir(), mac);
  }
}

function checked(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`not a file name a phone may upload: ${name}`);
  return name;
}
