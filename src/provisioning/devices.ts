// Provisioned devices (phones, ATAs). Like extensions, reads come from memory and
// writes reach the database before the call returns; fetch statistics (last seen,
// IP, User-Agent) are written behind so serving a file never waits on a disk write.
import type { Db } from '../storage/database.js';
import { isUniqueViolation } from '../storage/database.js';
import { nowIso } from '../util/clock.js';
import type { Updateable } from 'kysely';
import type { StatementRuns } from '../storage/sqlite-writer.js';
import type { DevicesTable } from '../storage/tables.js';
import type { WriteBehind } from '../storage/write-behind.js';
import { PbxError } from '../pbx/errors.js';
import { changedKeys, type ExtensionService, type RowError } from '../pbx/extensions.js';
import { normalizeMac } from '../util/mac.js';
import type { SecretBox } from '../security/secret-box.js';
import { newSipSecret } from '../security/tokens.js';
import type { VendorRegistry } from './vendors/index.js';
import { ReloadableMap } from '../util/reloadable-map.js';

/** Which provisioning listener a device's URLs point at. */
export type DeviceListener = 'default' | 'http' | 'https';
export const DEVICE_LISTENERS: readonly DeviceListener[] = ['default', 'http', 'https'];

export interface Device {
  mac: string;
  vendor: string;
  model: string;
  label: string | null;
  /** Extension numbers, line 1 first. */
  lines: string[];
  overrides: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  lastProvisioned: string | null;
  lastIp: string | null;
  lastUserAgent: string | null;
  lastServedUrl: string | null;
  /** SHA-256 of the account file the phone last fetched. */
  lastFetchHash: string | null;
  /** Server port the last fetch came in on, and whether that was an old (grace) port. */
  lastFetchPort: number | null;
  lastFetchLegacy: boolean;
  resyncSentAt: string | null;
  /** The credential its file sets on the phone and later fetches must show (clear in memory only). */
  credential: { user: string; password: string };
  /** When the first-fetch window opened; null when it was never opened or has been closed. */
  windowOpenedAt: string | null;
  /** When the phone first fetched its file through the window (null: not yet since it opened). */
  windowUsedAt: string | null;
  /** Last fetch authenticated with the credential. */
  authenticatedAt: string | null;
  listener: DeviceListener;
}

/**
 * A device fetched its file (or was told to) while a reload read the table: the row as read,
 * with that newer run-time state. Its database write is queued and lands after the read.
 */
function carryFetchState(current: Device, fresh: Device): Device {
  return {
    ...fresh,
    lastProvisioned: current.lastProvisioned,
    lastIp: current.lastIp,
    lastUserAgent: current.lastUserAgent,
    lastServedUrl: current.lastServedUrl,
    lastFetchHash: current.lastFetchHash,
    lastFetchPort: current.lastFetchPort,
    lastFetchLegacy: current.lastFetchLegacy,
    resyncSentAt: current.resyncSentAt,
    windowOpenedAt: current.windowOpenedAt,
    windowUsedAt: current.windowUsedAt,
    authenticatedAt: current.authenticatedAt,
  };
}

/** What decides whether a device may still fetch without its credential. */
export type DeviceAuthState = Pick<Device, 'windowOpenedAt' | 'windowUsedAt' | 'authenticatedAt'>;

export interface FetchRecord {
  ip: string;
  userAgent: string | null;
  servedUrl: string;
  at: string;
  port: number;
  legacy: boolean;
  /** Hash of the body when the file was the account file. */
  accountHash: string | null;
}

export interface DeviceInput {
  mac_address: string;
  extension_number?: string;
  lines?: string[];
  vendor: string;
  model: string;
  label?: string | null;
  overrides?: Record<string, string>;
  /** Generated when omitted: user = the MAC, password = 20 random characters. */
  provisioning_username?: string;
  provisioning_password?: string;
  listener?: DeviceListener;
}

export type DevicePatch = Partial<Omit<DeviceInput, 'mac_address'>> & {
  regenerate_provisioning_password?: boolean;
  /** Let the phone fetch once more without its credential (first-fetch window). */
  open_first_fetch_window?: boolean;
};

const PROV_USER = /^[A-Za-z0-9._-]{1,64}$/;
// Credentials go into URLs (Snom, Cisco) and XML attributes: keep them to URL-safe characters.
const PROV_PASSWORD = /^[A-Za-z0-9._~-]{12,128}$/;

type Listener = (mac: string) => void;

const OVERRIDE_KEY = /^[A-Za-z0-9_.:\-[\]]{1,128}$/;

export class DeviceService {
  private readonly byMac = new ReloadableMap<string, Device>();
  private readonly listeners: Listener[] = [];

  constructor(
    private readonly db: Db,
    private readonly vendors: VendorRegistry,
    private readonly extensions: ExtensionService,
    private readonly writeBehind: WriteBehind,
    private readonly box: SecretBox,
  ) {}

  /** Reads every device; when reloading, tells the listeners which changed, and returns them. */
  async load(): Promise<string[]> {
    const before = await this.byMac.reload(async () => {
      const rows = await this.db.selectFrom('devices').selectAll().execute();
      const lines = await this.db.selectFrom('device_lines').selectAll().orderBy('line_index').execute();
      const fresh = new Map<string, Device>();
      for (const r of rows) {
        fresh.set(r.mac, {
          mac: r.mac,
          vendor: r.vendor,
          model: r.model,
          label: r.label,
          lines: [],
          overrides: JSON.parse(r.overrides) as Record<string, string>,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
          lastProvisioned: r.last_provisioned,
          lastIp: r.last_ip,
          lastUserAgent: r.last_user_agent,
          lastServedUrl: r.last_served_url,
          lastFetchHash: r.last_fetch_hash,
          lastFetchPort: r.last_fetch_port,
          lastFetchLegacy: r.last_fetch_legacy === 1,
          resyncSentAt: r.resync_sent_at,
          credential: { user: r.prov_user ?? r.mac, password: r.prov_secret_enc ? this.box.open(r.prov_secret_enc) : '' },
          windowOpenedAt: r.window_opened_at,
          windowUsedAt: r.window_used_at,
          authenticatedAt: r.prov_authenticated_at,
          listener: (DEVICE_LISTENERS as readonly string[]).includes(r.listener) ? (r.listener as DeviceListener) : 'default',
        });
      }
      for (const l of lines) fresh.get(l.device_mac)?.lines.push(l.extension_number);
      return fresh;
    }, carryFetchState);
    this.sorted = null;
    this.byLine = null;
    await this.giveCredentialsToOlderDevices();
    // Reloaded after another process changed devices: the same signal as a change made here.
    const changed = changedKeys(before, this.byMac);
    for (const mac of changed) this.emit(mac);
    return changed;
  }

  /**
   * Devices added before provisioning credentials existed get one now, with the
   * first-fetch window open, so the phone can fetch the file that hands it over
   * (auto-resync tells registered phones to do so at once).
   */
  private async giveCredentialsToOlderDevices(): Promise<void> {
    for (const d of this.byMac.values()) {
      if (d.credential.password) continue;
      d.credential = { user: d.mac, password: newSipSecret() };
      d.windowOpenedAt = nowIso();
      d.windowUsedAt = null;
      await this.db
        .updateTable('devices')
        .set({ prov_user: d.credential.user, prov_secret_enc: this.box.seal(d.credential.password), window_opened_at: d.windowOpenedAt, window_used_at: null })
        .where('mac', '=', d.mac)
        .execute();
    }
  }

  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** Told when a fetch moved a device's window state (HTTP worker processes must know at once). */
  onAuthState: ((mac: string, state: DeviceAuthState) => void) | null = null;

  /** The window state another process recorded (in memory only: that process writes it). */
  applyAuthState(mac: string, state: DeviceAuthState): void {
    const device = this.byMac.get(mac);
    if (!device) return;
    this.byMac.touch(mac);
    device.windowOpenedAt = state.windowOpenedAt;
    device.windowUsedAt = state.windowUsedAt;
    device.authenticatedAt = state.authenticatedAt;
  }

  private authStateMoved(device: Device): void {
    this.onAuthState?.(device.mac, { windowOpenedAt: device.windowOpenedAt, windowUsedAt: device.windowUsedAt, authenticatedAt: device.authenticatedAt });
  }

  /** Every device in MAC order (a copy; the sorted order is kept until the next change: a page of 100,000 phones does not sort them again). */
  list(): Device[] {
    // MACs are 12 lower-case hex digits: plain comparison is their order.
    this.sorted ??= [...this.byMac.values()].sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
    return this.sorted.slice();
  }
  private sorted: Device[] | null = null;

  get(mac: string): Device | undefined {
    return this.byMac.get(mac);
  }

  /** Every device in no particular order, without copying or sorting (for counting). */
  all(): IterableIterator<Device> {
    return this.byMac.values();
  }

  /** How many there are, without listing them. */
  get count(): number {
    return this.byMac.size;
  }

  /** Devices with a line on the extension. */
  usingExtension(number: string): Device[] {
    // An index by line, rebuilt after a change: a bulk import asks once per extension.
    if (!this.byLine) {
      this.byLine = new Map();
      for (const d of this.byMac.values()) {
        for (const line of new Set(d.lines)) {
          const list = this.byLine.get(line);
          if (list) list.push(d);
          else this.byLine.set(line, [d]);
        }
      }
    }
    return this.byLine.get(number) ?? [];
  }

  private byLine: Map<string, Device[]> | null = null;

  /** Parses a MAC given in any common form, or fails with a message naming the field. */
  static parseMac(input: string, field = 'mac_address'): string {
    const mac = normalizeMac(input);
    if (!mac) {
      throw new PbxError(
        'invalid',
        `"${input}" is not a MAC address (expected 12 hex digits, e.g. 68:79:09:9b:e7:68, 68-79-09-9B-E7-68, 6879.099b.e768 or 6879099be768)`,
        field,
      );
    }
    return mac;
  }

  async create(input: DeviceInput): Promise<Device> {
    const device = this.newDevice(input);
    await this.insertNew([device]);
    return device;
  }

  /** A device made from its input and checked (a PbxError says what is wrong), not stored yet. */
  private newDevice(input: DeviceInput): Device {
    const mac = DeviceService.parseMac(input.mac_address);
    if (this.byMac.has(mac)) throw new PbxError('conflict', `Device ${mac} already exists`, 'mac_address');
    const { vendor, model } = this.checkVendorModel(input.vendor, input.model);
    const lines = this.checkLines(input.lines ?? (input.extension_number ? [input.extension_number] : []), vendor, model);
    const overrides = checkOverrides(input.overrides ?? {});
    const credential = checkCredential(input.provisioning_username ?? mac, input.provisioning_password ?? newSipSecret());
    const listener = input.listener ?? 'default';
    const now = nowIso();
    return {
      mac,
      vendor,
      model,
      label: input.label ?? null,
      lines,
      overrides,
      createdAt: now,
      updatedAt: now,
      lastProvisioned: null,
      lastIp: null,
      lastUserAgent: null,
      lastServedUrl: null,
      lastFetchHash: null,
      lastFetchPort: null,
      lastFetchLegacy: false,
      resyncSentAt: null,
      credential,
      windowOpenedAt: now,
      windowUsedAt: null,
      authenticatedAt: null,
      listener,
    };
  }

  /**
   * Stores new devices in one transaction (a CSV of thousands: one commit, rows in chunks),
   * then serves them.
   */
  private async insertNew(devices: Device[]): Promise<void> {
    if (devices.length === 0) return;
    const CHUNK = 500;
    await this.db
      .transaction()
      .execute(async (trx) => {
        for (let i = 0; i < devices.length; i += CHUNK) {
          const chunk = devices.slice(i, i + CHUNK);
          await trx
            .insertInto('devices')
            .values(chunk.map((d) => this.newRow(d)))
            .execute();
          const lines = chunk.flatMap((d) => d.lines.map((n, j) => ({ device_mac: d.mac, line_index: j + 1, extension_number: n })));
          if (lines.length > 0) await trx.insertInto('device_lines').values(lines).execute();
        }
      })
      .catch((err: unknown) => {
        if (isUniqueViolation(err)) throw new PbxError('conflict', devices.length === 1 ? `Device ${devices[0]!.mac} already exists` : 'A device in the list already exists (added meanwhile by another process)', 'mac_address');
        throw err;
      });
    for (const d of devices) this.byMac.set(d.mac, d);
    this.sorted = null;
    for (const d of devices) this.emit(d.mac);
  }

  /** The device's row as first stored. */
  private newRow(device: Device) {
    const { mac, vendor, model, overrides, credential, listener, createdAt: now } = device;
    return {
      mac,
      vendor,
      model,
      label: device.label,
      overrides: JSON.stringify(overrides),
      created_at: now,
      updated_at: now,
      last_provisioned: null,
      last_ip: null,
      last_user_agent: null,
      last_served_url: null,
      last_fetch_hash: null,
      last_fetch_port: null,
      last_fetch_legacy: 0,
      resync_sent_at: null,
      prov_user: credential.user,
      prov_secret_enc: this.box.seal(credential.password),
      window_opened_at: now,
      window_used_at: null,
      prov_authenticated_at: null,
      listener,
    };
  }

  /**
   * Creates or updates many devices (a CSV): every row is checked first, and one bad row
   * changes nothing (the errors name each line). A MAC that exists is updated with the
   * row's vendor, model, lines and label. The provisioning credentials made for new
   * devices are returned once.
   */
  async importMany(rows: { line: number; input: DeviceInput }[], dryRun = false): Promise<{ created: number; updated: number; credentials: { mac: string; user: string; password: string }[] } | { errors: RowError[] }> {
    const errors: RowError[] = [];
    const seen = new Map<string, number>();
    for (const { line, input } of rows) {
      try {
        const mac = DeviceService.parseMac(input.mac_address);
        const first = seen.get(mac);
        if (first !== undefined) throw new PbxError('invalid', `MAC ${mac} is also on line ${first}`, 'mac_address');
        seen.set(mac, line);
        const current = this.byMac.get(mac);
        const { vendor, model } = this.checkVendorModel(input.vendor || current?.vendor || '', input.model || current?.model || '');
        this.checkLines(input.lines ?? current?.lines ?? [], vendor, model);
      } catch (err) {
        if (!(err instanceof PbxError)) throw err;
        errors.push({ line, field: err.field ?? 'row', message: err.message });
      }
    }
    if (errors.length > 0 || dryRun) return errors.length > 0 ? { errors } : { created: 0, updated: 0, credentials: [] };
    let updated = 0;
    const credentials: { mac: string; user: string; password: string }[] = [];
    const fresh: Device[] = [];
    for (const { input } of rows) {
      const mac = DeviceService.parseMac(input.mac_address);
      if (this.byMac.has(mac)) {
        await this.update(mac, { ...(input.vendor ? { vendor: input.vendor } : {}), ...(input.model ? { model: input.model } : {}), ...(input.lines ? { lines: input.lines } : {}), ...(input.label !== undefined ? { label: input.label } : {}) });
        updated++;
      } else fresh.push(this.newDevice(input));
    }
    await this.insertNew(fresh);
    for (const d of fresh) credentials.push({ mac: d.mac, user: d.credential.user, password: d.credential.password });
    return { created: fresh.length, updated, credentials };
  }

  async update(macInput: string, patch: DevicePatch): Promise<Device> {
    const mac = DeviceService.parseMac(macInput);
    const current = this.require(mac);
    const { vendor, model } = this.checkVendorModel(patch.vendor ?? current.vendor, patch.model ?? current.model);
    const requested = patch.lines ?? (patch.extension_number ? [patch.extension_number, ...current.lines.slice(1)] : current.lines);
    const lines = this.checkLines(requested, vendor, model);
    const overrides = patch.overrides ? checkOverrides(patch.overrides) : current.overrides;
    const password = patch.regenerate_provisioning_password ? newSipSecret() : (patch.provisioning_password ?? current.credential.password);
    const credential = checkCredential(patch.provisioning_username ?? current.credential.user, password);
    const credentialChanged = credential.user !== current.credential.user || credential.password !== current.credential.password;
    const now = nowIso();
    const next: Device = {
      ...current,
      vendor,
      model,
      label: patch.label !== undefined ? patch.label : current.label,
      lines,
      overrides,
      credential,
      listener: patch.listener ?? current.listener,
      // The phone only learns a new credential from a fetch it cannot authenticate with the old one.
      windowOpenedAt: credentialChanged || patch.open_first_fetch_window ? now : current.windowOpenedAt,
      windowUsedAt: credentialChanged || patch.open_first_fetch_window ? null : current.windowUsedAt,
      updatedAt: now,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('devices')
        .set({
          vendor,
          model,
          label: next.label,
          overrides: JSON.stringify(overrides),
          updated_at: next.updatedAt,
          prov_user: credential.user,
          ...(credentialChanged ? { prov_secret_enc: this.box.seal(credential.password) } : {}),
          window_opened_at: next.windowOpenedAt,
          window_used_at: next.windowUsedAt,
          listener: next.listener,
        })
        .where('mac', '=', mac)
        .execute();
      await trx.deleteFrom('device_lines').where('device_mac', '=', mac).execute();
      await trx
        .insertInto('device_lines')
        .values(lines.map((n, i) => ({ device_mac: mac, line_index: i + 1, extension_number: n })))
        .execute();
    });
    this.byMac.set(mac, next);
    this.sorted = null;
    this.emit(mac);
    return next;
  }

  async delete(macInput: string): Promise<void> {
    const mac = DeviceService.parseMac(macInput);
    this.require(mac);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('device_lines').where('device_mac', '=', mac).execute();
      await trx.deleteFrom('devices').where('mac', '=', mac).execute();
    });
    this.byMac.delete(mac);
    this.sorted = null;
    this.emit(mac);
  }

  require(mac: string): Device {
    const device = this.byMac.get(mac);
    if (!device) throw new PbxError('not_found', `Device ${mac} not registered in provisioning system`, 'mac_address');
    return device;
  }

  /** Notes a delivered file: in memory now, in the database with the next batch. */
  recordFetch(mac: string, f: FetchRecord): void {
    const device = this.byMac.get(mac);
    if (!device) return;
    this.byMac.touch(mac);
    device.lastProvisioned = f.at;
    device.lastIp = f.ip;
    device.lastUserAgent = f.userAgent;
    device.lastServedUrl = f.servedUrl;
    device.lastFetchPort = f.port;
    device.lastFetchLegacy = f.legacy;
    if (f.accountHash) device.lastFetchHash = f.accountHash;
    const hash = device.lastFetchHash;
    this.writeBehind.putStatements(`device-fetch:${mac}`, () => [
      this.updateRuns(mac, {
        last_provisioned: f.at,
        last_ip: f.ip,
        last_user_agent: f.userAgent,
        last_served_url: f.servedUrl,
        last_fetch_port: f.port,
        last_fetch_legacy: f.legacy ? 1 : 0,
        last_fetch_hash: hash,
      }),
    ]);
  }

  /**
   * UPDATE devices SET … WHERE mac = ?, its text compiled once per set of columns: Kysely
   * building the same statement for every delivered file cost more than running it (a
   * booting phone fetches three, and authenticates once).
   */
  private updateRuns(mac: string, set: Updateable<DevicesTable>): StatementRuns {
    const columns = Object.keys(set).join(',');
    let sql = this.updates.get(columns);
    if (sql === undefined) {
      sql = this.db.updateTable('devices').set(set).where('mac', '=', mac).compile().sql;
      this.updates.set(columns, sql);
    }
    // Kysely's parameters are SET's values in order, then the MAC.
    return { sql, runs: [[...Object.values(set), mac]] };
  }

  /** Compiled UPDATE texts by their columns (updateRuns). */
  private readonly updates = new Map<string, string>();

  /** Notes a fetch authenticated with the device's credential: the phone has it, so its window closes. */
  recordAuthenticated(mac: string, at = nowIso()): void {
    const device = this.byMac.get(mac);
    if (!device) return;
    this.byMac.touch(mac);
    const moved = device.windowOpenedAt !== null || device.authenticatedAt === null;
    device.authenticatedAt = at;
    device.windowOpenedAt = null;
    if (moved) this.authStateMoved(device);
    this.writeBehind.putStatements(`device-auth:${mac}`, () => [
      this.updateRuns(mac, { prov_authenticated_at: at, window_opened_at: null }),
    ]);
  }

  /** Notes the first fetch through the first-fetch window (the window closes soon after it). */
  recordWindowUse(mac: string, at = nowIso()): void {
    const device = this.byMac.get(mac);
    if (!device || device.windowUsedAt) return;
    this.byMac.touch(mac);
    device.windowUsedAt = at;
    this.authStateMoved(device);
    this.writeBehind.putStatements(`device-window:${mac}`, () => [this.updateRuns(mac, { window_used_at: at })]);
  }

  /** Notes that a resync NOTIFY went out (the phone is "pending" until it fetches). */
  recordResync(mac: string, at = nowIso()): void {
    const device = this.byMac.get(mac);
    if (!device) return;
    this.byMac.touch(mac);
    device.resyncSentAt = at;
    this.writeBehind.putStatements(`device-resync:${mac}`, () => [this.updateRuns(mac, { resync_sent_at: at })]);
  }

  private checkVendorModel(vendorId: string, modelId: string): { vendor: string; model: string } {
    const vendor = this.vendors.get(vendorId);
    if (!vendor) {
      const known = this.vendors.vendors.map((v) => v.id).join(', ');
      throw new PbxError('invalid', `Unknown vendor "${vendorId}"; supported vendors: ${known}`, 'vendor');
    }
    const model = this.vendors.model(vendor.id, modelId);
    if (!model) {
      const known = vendor.models.map((m) => m.id).join(', ');
      throw new PbxError('invalid', `Unknown model "${modelId}" for vendor ${vendor.id}; supported models: ${known}`, 'model');
    }
    return { vendor: vendor.id, model: model.id };
  }

  private checkLines(lines: string[], vendorId: string, modelId: string): string[] {
    if (lines.length === 0) throw new PbxError('invalid', 'extension_number is required', 'extension_number');
    const max = this.vendors.model(vendorId, modelId)?.lines ?? 1;
    if (lines.length > max) {
      throw new PbxError('invalid', `${vendorId} ${modelId} has ${max} line(s); ${lines.length} were given`, 'lines');
    }
    for (const n of lines) {
      if (!this.extensions.get(n)) {
        throw new PbxError('invalid', `Extension ${n} not found`, lines.length === 1 ? 'extension_number' : 'lines');
      }
    }
    return [...lines];
  }

  private emit(mac: string): void {
    this.byLine = null;
    for (const l of this.listeners) l(mac);
  }
}

function checkCredential(user: string, password: string): { user: string; password: string } {
  if (!PROV_USER.test(user)) {
    throw new PbxError('invalid', 'provisioning_username may only hold 1 to 64 letters, digits and . _ -', 'provisioning_username');
  }
  if (!PROV_PASSWORD.test(password) || new Set(password).size < 6) {
    throw new PbxError(
      'invalid',
      'provisioning_password needs 12 to 128 letters, digits or . _ ~ - and must not be repetitive; omit it to have a strong one generated',
      'provisioning_password',
    );
  }
  return { user, password };
}

function checkOverrides(overrides: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (!OVERRIDE_KEY.test(key)) {
      throw new PbxError('invalid', `override key "${key}" may only contain letters, digits and . _ - : [ ]`, 'overrides');
    }
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new PbxError('invalid', `override "${key}" must be a single-line string`, 'overrides');
    }
    out[key] = value;
  }
  return out;
}
