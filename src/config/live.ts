// The running configuration. config.yml is re-read when the file changes, on SIGHUP
// and when the API edits it; a new version is validated first and an invalid one is
// refused (the error is reported, the running config stays). API edits write the file
// back through the YAML document, so comments and layout survive.
import { watch, type FSWatcher, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, parseConfigText } from './load.js';
import type { PbxConfig } from './schema.js';

export interface ConfigChange {
  previous: PbxConfig;
  next: PbxConfig;
  /** Dotted paths of the leaf values that differ. */
  changed: string[];
  reason: string;
}

export type ReloadResult = { ok: true; change: ConfigChange | null } | { ok: false; error: ConfigError };

type Listener = (change: ConfigChange) => void | Promise<void>;

/**
 * Thrown by an applier (see LiveConfig.onApply) when the running system cannot take a
 * change, e.g. the new port is in use: the change is refused like an invalid file.
 */
export class ConfigApplyError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigApplyError';
  }
}

export class LiveConfig {
  private listeners: Listener[] = [];
  private appliers: Listener[] = [];
  /** The text the running config was read from. */
  private runningText: string;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastText: string;
  /** The last text read was refused: the next valid one is news even when it changes nothing. */
  private refused = false;
  /** The config as the file says it, before `derive` (server.external_ip: auto stays auto here). */
  private fileConfig: PbxConfig;
  /** Fills in what the file leaves to the running server (a discovered public address). */
  private derive: (c: PbxConfig) => PbxConfig = (c) => c;

  constructor(
    readonly file: string,
    private config: PbxConfig,
    private readonly onRefused: (error: ConfigError, reason: string) => void = () => {},
    /** What an admin should hear although nothing changed ("valid again", "unchanged" on SIGHUP). */
    private readonly onNote: (message: string, reason: string) => void = () => {},
  ) {
    this.lastText = safeRead(file);
    this.runningText = this.lastText;
    this.fileConfig = config;
  }

  /** Sets how the running config is derived from the file's, and derives it now (at start: nobody is told). */
  setDerive(derive: (c: PbxConfig) => PbxConfig): void {
    this.derive = derive;
    this.config = derive(this.fileConfig);
  }

  /** Derives the running config again (what `derive` depends on changed) and applies the difference like a reload. */
  async rederive(reason: string): Promise<ReloadResult> {
    return this.apply(this.fileConfig, this.runningText, reason, false);
  }

  get current(): PbxConfig {
    return this.config;
  }

  onChange(l: Listener): void {
    this.listeners.push(l);
  }

  /**
   * Runs before the change is adopted and before any onChange listener: binds what the
   * change needs (new ports). Throwing ConfigApplyError refuses the change; an applier
   * that had succeeded before a later one refused is called again with the change reversed.
   */
  onApply(a: Listener): void {
    this.appliers.push(a);
  }

  /** Re-reads the file (watch, SIGHUP). Unchanged text is a no-op. */
  async reload(reason: string): Promise<ReloadResult> {
    const text = safeRead(this.file);
    if (text === this.lastText) {
      // An editor's save fires several events: only an explicit reload is answered.
      if (reason === 'SIGHUP') this.onNote(`Configuration unchanged (${reason}): ${this.file} is what is running`, reason);
      return { ok: true, change: null };
    }
    return this.adopt(text, reason);
  }

  /**
   * Sets values (dotted path → value) in config.yml, keeping its comments, and applies
   * the result; nothing is written when the result is invalid.
   */
  async update(values: Record<string, unknown>, reason: string): Promise<ReloadResult> {
    const doc = parseDocument(safeRead(this.file), { keepSourceTokens: true });
    for (const [path, value] of Object.entries(values)) doc.setIn(path.split('.'), value);
    const text = String(doc);
    try {
      parseConfigText(text, this.file);
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, error: err };
      throw err;
    }
    writeAtomically(this.file, text);
    return this.adopt(text, reason, true);
  }

  /** Follows edits of the file (editors often replace it, so the folder is watched). */
  watchFile(): void {
    this.watcher = watch(dirname(this.file), (_event, name) => {
      if (name && name !== basename(this.file)) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload('file changed'), 150);
    });
    this.watcher.unref();
  }

  stop(): void {
    this.watcher?.close();
    clearTimeout(this.debounce);
  }

  /** `ownEdit`: the file was written by update(), so a refused change puts the file back too. */
  private async adopt(text: string, reason: string, ownEdit = false): Promise<ReloadResult> {
    let next: PbxConfig;
    try {
      next = parseConfigText(text, this.file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.lastText = text; // report a broken file once, not on every event
      this.refused = true;
      this.onRefused(err, reason);
      return { ok: false, error: err };
    }
    this.lastText = text;
    if (this.refused) {
      this.refused = false;
      const changed = diff(this.config, this.derive(next));
      this.onNote(`Configuration valid again (${reason})${changed.length === 0 ? ': the same as the running one, nothing changes' : ''}`, reason);
    }
    return this.apply(next, text, reason, ownEdit);
  }

  /** Adopts `parsed` (the file's config; derived here): appliers first (any may refuse), then the listeners. */
  private async apply(parsed: PbxConfig, text: string, reason: string, ownEdit: boolean): Promise<ReloadResult> {
    const previous = this.config;
    const next = this.derive(parsed);
    const changed = diff(previous, next);
    if (changed.length === 0) {
      this.fileConfig = parsed;
      if (reason === 'SIGHUP') this.onNote(`Configuration unchanged (${reason}): nothing in ${this.file} differs from what is running`, reason);
      return { ok: true, change: null };
    }
    const change = { previous, next, changed, reason };
    const applied: Listener[] = [];
    try {
      for (const a of this.appliers) {
        await a(change);
        applied.push(a);
      }
    } catch (err) {
      if (!(err instanceof ConfigApplyError)) throw err;
      const back = { previous: next, next: previous, changed, reason: `${reason}, undone` };
      for (const a of applied.reverse()) await a(back);
      if (ownEdit) {
        writeAtomically(this.file, this.runningText);
        this.lastText = this.runningText;
      }
      const error = new ConfigError(this.file, [{ path: err.path, message: err.message }]);
      this.onRefused(error, reason);
      return { ok: false, error };
    }
    this.config = next;
    this.fileConfig = parsed;
    this.runningText = text;
    for (const l of this.listeners) await l(change);
    return { ok: true, change };
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  writeFileSync(tmp, text, { mode: 0o640 });
  renameSync(tmp, file);
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Leaf paths whose values differ (arrays compare as a whole). */
export function diff(a: unknown, b: unknown, prefix = ''): string[] {
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diff(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
