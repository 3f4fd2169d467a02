// Phone-file templates: one source of truth per vendor (and optionally per model),
// rendered by Liquid with strict variables and no code execution. A template that
// names a variable the server does not provide is refused when it is loaded, naming
// the file and the variable, so a typo never reaches a phone as an empty value.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Liquid, type Template } from 'liquidjs';
import type { VendorProfile } from './vendors/types.js';
import type { VendorRegistry } from './vendors/index.js';

export class TemplateError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly variable?: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TemplateError';
  }
}

/** How a vendor's Liquid engine is made: where partials come from, how output is escaped. */
export interface EngineSpec {
  roots: string[];
  xml: boolean;
}

export interface LoadedTemplate {
  file: string;
  source: string;
  parsed: Template[];
  engine: Liquid;
  /** What a render thread needs to make the same engine (render-threads.ts). */
  spec: EngineSpec;
  /** true when it comes from custom_templates_dir. */
  custom: boolean;
}

/** Produces a sample render context for validating a template of a vendor/model. */
export type SampleContext = (vendor: VendorProfile, modelId: string | undefined, template: string) => object;

const LIQUID_ARRAY_PROPS = new Set(['size', 'first', 'last']);

export class TemplateCatalog {
  private readonly engines = new Map<string, Liquid>();
  private readonly cache = new Map<string, LoadedTemplate | null>();
  /** Counts resets: a render thread parses its templates anew when this moves. */
  generation = 0;

  constructor(
    private readonly registry: VendorRegistry,
    private readonly customDirOf: () => string,
    private readonly sample: SampleContext,
  ) {}

  /** provisioning.custom_templates_dir, read live so a config change applies. */
  private get customDir(): string {
    return this.customDirOf();
  }

  private readonly saved: (() => void)[] = [];

  /** Told after an admin's template was saved (other processes must forget theirs). */
  onSaved(listener: () => void): void {
    this.saved.push(listener);
  }

  /** Forgets every compiled template (the folder or a file changed). */
  reset(): void {
    this.cache.clear();
    this.engines.clear();
    this.generation++;
  }

  /** Loads and checks every template that any vendor/model can use. Throws the first problem. */
  loadAll(): void {
    this.reset();
    for (const vendor of this.registry.vendors) {
      const names = new Set(vendor.files.filter((f) => f.kind !== 'upload').map((f) => f.template));
      for (const model of vendor.models) for (const name of names) this.get(vendor, model.id, name);
    }
  }

  /** The template for a vendor/model file, most specific first; null when none exists. */
  get(vendor: VendorProfile, modelId: string | undefined, name: string): LoadedTemplate | null {
    const key = `${vendor.id}/${modelId ?? ''}/${name}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const found = this.locate(vendor, modelId, name);
    let loaded: LoadedTemplate | null = null;
    if (found) {
      const source = readFileSync(found.file, 'utf8');
      loaded = { ...found, source, ...this.compile(vendor, modelId, name, found.file, source) };
    }
    this.cache.set(key, loaded);
    return loaded;
  }

  /** Checks a candidate template text without saving it; throws TemplateError. */
  check(vendor: VendorProfile, modelId: string, name: string, source: string): void {
    this.compile(vendor, modelId, name, `${vendor.id}/${modelId}/${name}`, source);
  }

  /** Saves an admin's template for one model under custom_templates_dir (atomically). */
  save(vendor: VendorProfile, modelId: string, name: string, source: string): string {
    if (!this.customDir) throw new TemplateError(name, 'provisioning.custom_templates_dir is not set in config.yml');
    this.check(vendor, modelId, name, source);
    const dir = join(this.customDir, vendor.id, modelId);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, name);
    writeFileSync(`${file}.tmp`, source);
    renameSync(`${file}.tmp`, file);
    this.reset();
    for (const l of this.saved) l();
    return file;
  }

  private locate(vendor: VendorProfile, modelId: string | undefined, name: string) {
    const candidates: { file: string; custom: boolean }[] = [];
    if (this.customDir) {
      if (modelId) candidates.push({ file: join(this.customDir, vendor.id, modelId, name), custom: true });
      candidates.push({ file: join(this.customDir, vendor.id, name), custom: true });
    }
    if (modelId) candidates.push({ file: join(vendor.templatesDir, modelId, name), custom: false });
    candidates.push({ file: join(vendor.templatesDir, name), custom: false });
    return candidates.find((c) => existsSync(c.file));
  }

  private specFor(vendor: VendorProfile): EngineSpec {
    return { roots: [...(this.customDir ? [join(this.customDir, vendor.id)] : []), vendor.templatesDir], xml: vendor.format === 'xml' };
  }

  private engineFor(vendor: VendorProfile): Liquid {
    let engine = this.engines.get(vendor.id);
    if (!engine) {
      engine = liquidEngine(this.specFor(vendor));
      this.engines.set(vendor.id, engine);
    }
    return engine;
  }

  private compile(vendor: VendorProfile, modelId: string | undefined, name: string, file: string, source: string) {
    const engine = this.engineFor(vendor);
    let parsed: Template[];
    try {
      parsed = engine.parse(source, file);
    } catch (err) {
      throw new TemplateError(file, `syntax error: ${(err as Error).message.split('\n')[0]}`);
    }
    const sample = this.sample(vendor, modelId, name);
    const analysis = engine.analyzeSync(parsed);
    for (const [root, uses] of Object.entries(analysis.globals)) {
      for (const use of uses) {
        const segments = use.segments.map(String);
        if (!pathExists(sample, segments)) {
          const variable = segments.join('.');
          const where = use.location ? ` (line ${use.location.row})` : '';
          throw new TemplateError(file, `unknown variable "${variable}"${where}`, variable || root);
        }
      }
    }
    try {
      engine.renderSync(parsed, sample);
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0] ?? '';
      const variable = /undefined variable: ([\w.]+)/.exec(msg)?.[1];
      throw new TemplateError(file, variable ? `unknown variable "${variable}"` : msg, variable);
    }
    return { parsed, engine, spec: this.specFor(vendor) };
  }
}

/** The one way a phone template's engine is made (here and in render threads). */
export function liquidEngine(spec: EngineSpec): Liquid {
  const engine = new Liquid({
    root: spec.roots,
    partials: spec.roots,
    // Partials ({% include %}) parsed once, not read from disk and parsed again on each
    // render (43 % of a boot storm's CPU). The engine is made anew whenever templates
    // change (reset(): a save, a new custom_templates_dir), and its cache with it.
    cache: true,
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    lenientIf: true,
    outputEscape: spec.xml ? 'escape' : stripLineBreaks,
    parseLimit: 1_000_000,
    renderLimit: 2_000,
    memoryLimit: 50_000_000,
  });
  engine.registerFilter('repeat_numbered', repeatNumbered);
  return engine;
}

/** The most copies `repeat_numbered` makes: a model has at most a few dozen lines or keys. */
const MAX_REPEATS = 1_000;

/**
 * `{{ block | repeat_numbered: '{n}', from, to }}`: the block once for each number from..to,
 * with every marker replaced by the number ('' when from > to). One filter call instead of a
 * Liquid loop of several tags per number: switching off a Yealink's unused accounts that way
 * was a third of its file's render time, and a boot storm renders thousands.
 */
function repeatNumbered(block: unknown, marker: unknown, from: unknown, to: unknown): string {
  const text = String(block ?? '');
  const first = Number(from);
  const last = Number(to);
  if (typeof marker !== 'string' || marker === '') throw new Error('repeat_numbered: the marker must be a non-empty string');
  if (!Number.isInteger(first) || !Number.isInteger(last)) throw new Error(`repeat_numbered: from and to must be whole numbers (got ${String(from)}, ${String(to)})`);
  if (last - first + 1 > MAX_REPEATS) throw new Error(`repeat_numbered: more than ${MAX_REPEATS} copies (${first}..${last})`);
  const parts = text.split(marker);
  let out = '';
  for (let n = first; n <= last; n++) out += parts.join(String(n));
  return out;
}

function pathExists(value: unknown, segments: string[]): boolean {
  let cur: unknown = value;
  for (const seg of segments) {
    if (Array.isArray(cur)) {
      if (LIQUID_ARRAY_PROPS.has(seg)) return true;
      if (!/^-?\d+$/.test(seg)) return false;
      cur = cur[0];
      continue;
    }
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) return false;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return true;
}

// Keeps an admin-entered value from starting a new `key = value` line in text formats.
function stripLineBreaks(value: unknown): string {
  return String(value ?? '').replace(/[\r\n]+/g, ' ');
}
