// The composition root: the only module that knows every part. It opens storage,
// builds the services from the config, and (for `pbx serve`) starts the listeners.
import type { LoadedConfig } from './config/load.js';
import type { PbxConfig } from './config/schema.js';
import type { Logger } from './log.js';
import { ExtensionService } from './pbx/extensions.js';
import { PbxError } from './pbx/errors.js';
import { SecretBox } from './security/secret-box.js';
import { openDatabase, type OpenedDatabase } from './storage/database.js';
import { ExternalChanges } from './storage/external-changes.js';
import { WriteBehind } from './storage/write-behind.js';
import { DeviceService } from './provisioning/devices.js';
import { PhoneFiles, sampleContext } from './provisioning/phone-files.js';
import { RequestLog } from './provisioning/request-log.js';
import { ProvisioningService } from './provisioning/service.js';
import { TemplateCatalog } from './provisioning/templates.js';
import { VendorRegistry } from './provisioning/vendors/index.js';
import { TokenStore } from './api/tokens.js';

export interface Pbx {
  configFile: string;
  config: () => PbxConfig;
  log: Logger;
  database: OpenedDatabase;
  extensions: ExtensionService;
  devices: DeviceService;
  vendors: VendorRegistry;
  templates: TemplateCatalog;
  files: PhoneFiles;
  provisioning: ProvisioningService;
  requestLog: RequestLog;
  tokens: TokenStore;
  writeBehind: WriteBehind;
  startedAt: Date;
  close(): Promise<void>;
}

export interface CreateOptions {
  /** Seed devices from `provisioning.devices` and watch for changes by other processes (server only). */
  serve?: boolean;
}

export async function createPbx(loaded: LoadedConfig, log: Logger, opts: CreateOptions = {}): Promise<Pbx> {
  let config = loaded.config;
  const database = await openDatabase(config.database);
  const db = database.db;
  const box = SecretBox.fromKeyFile(config.security.key_file);
  const writeBehind = new WriteBehind(db, 200, (err) => log.error({ err }, 'Deferred database write failed'));
  const extensions = new ExtensionService(db, box);
  const vendors = new VendorRegistry();
  const devices = new DeviceService(db, vendors, extensions, writeBehind);
  await extensions.load();
  await devices.load();

  const templates = new TemplateCatalog(vendors, config.provisioning.custom_templates_dir, (vendor, modelId, template) => {
    const kind = vendor.files.some((f) => f.template === template && f.kind === 'device') ? 'device' : 'common';
    return sampleContext(config, vendor, modelId ? vendors.model(vendor.id, modelId) : undefined, kind);
  });
  templates.loadAll();

  const files = new PhoneFiles(() => config, vendors, templates, devices, extensions);
  const requestLog = new RequestLog(db, writeBehind, () => config.provisioning.request_log_max_entries);
  const provisioning = new ProvisioningService(files, devices, vendors, requestLog, log.child({ component: 'provisioning' }));
  const tokens = new TokenStore(db);

  let external: ExternalChanges | undefined;
  if (opts.serve) {
    await seedConfiguredDevices(config, devices, log);
    external = new ExternalChanges(database, async () => {
      await extensions.load();
      await devices.load();
      files.invalidateAll();
      log.info('Reloaded extensions and devices changed by another process');
    });
    for (const d of devices.list()) {
      log.debug({ mac: d.mac, config_url: files.configUrl(d) }, `Device ${d.mac} config_url`);
    }
  }

  return {
    configFile: loaded.file,
    config: () => config,
    log,
    database,
    extensions,
    devices,
    vendors,
    templates,
    files,
    provisioning,
    requestLog,
    tokens,
    writeBehind,
    startedAt: new Date(),
    async close() {
      external?.stop();
      await writeBehind.flush();
      await database.close();
    },
  };
}

/** Devices listed in config.yml are created (or brought in line) at start. */
async function seedConfiguredDevices(config: PbxConfig, devices: DeviceService, log: Logger): Promise<void> {
  for (const entry of config.provisioning.devices) {
    try {
      const mac = DeviceService.parseMac(entry.mac, 'provisioning.devices.mac');
      const existing = devices.get(mac);
      const input = { vendor: entry.vendor, model: entry.model, extension_number: entry.extension };
      if (!existing) await devices.create({ mac_address: mac, ...input });
      else if (existing.vendor !== entry.vendor || existing.model.toUpperCase() !== entry.model.toUpperCase() || existing.lines[0] !== entry.extension) {
        await devices.update(mac, input);
      }
    } catch (err) {
      if (!(err instanceof PbxError)) throw err;
      log.error({ mac: entry.mac }, `provisioning.devices entry ${entry.mac} in config.yml skipped: ${err.message}`);
    }
  }
}
