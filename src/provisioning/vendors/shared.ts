// What every vendor profile builds on, so that a profile holds only what is its own (file
// names, MAC form, User-Agent parser, resync events, templates). A new vendor imports these
// instead of copying another profile's regexes.
import { fileURLToPath } from 'node:url';
import type { FileRule, ModelInfo } from './types.js';

export const XML = 'text/xml; charset=utf-8';
export const TEXT = 'text/plain; charset=utf-8';

/** A MAC in a file name: 12 hex digits, captured as group `mac` (FileRule's contract). */
const MAC_IN_NAME = '(?<mac>[0-9a-f]{12})';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A per-device file name, `<prefix><mac><suffix>` (e.g. `cfg`, `.xml`), case-insensitive.
 * Several prefixes are alternatives (Snom's `snom<model>-<MAC>.htm`). Both are literal.
 */
export function macFileName(prefix: string | string[], suffix: string): RegExp {
  const head = typeof prefix === 'string' ? escapeRegExp(prefix) : `(?:${prefix.map(escapeRegExp).join('|')})`;
  return new RegExp(`^${head}${MAC_IN_NAME}${escapeRegExp(suffix)}$`, 'i');
}

/** Exactly one of `names` (literal, case-insensitive), captured as group 1. */
export function oneOfNames(names: string[]): RegExp {
  return new RegExp(`^(${names.map(escapeRegExp).join('|')})$`, 'i');
}

/**
 * `modelsFromMatch` for a common file that names its models: the models whose `name` is the
 * text the pattern captured in group 1, compared case-insensitively.
 */
export function modelsNamed(models: ModelInfo[], name: (model: ModelInfo) => string): (match: RegExpExecArray) => string[] {
  const byName = new Map<string, string[]>();
  for (const model of models) {
    const key = name(model).toLowerCase();
    byName.set(key, [...(byName.get(key) ?? []), model.id]);
  }
  return (match) => byName.get(match[1]!.toLowerCase()) ?? [];
}

/** A file for one device, named by its MAC; `secrets` when it carries SIP passwords. */
export function deviceRule(pattern: RegExp, template: string, contentType: string, carries: 'secrets' | 'no secrets'): FileRule {
  return { pattern, kind: 'device', template, contentType, sensitive: carries === 'secrets' };
}

/** A per-device file named `<prefix><mac><suffix>`: its rule, and its name for a MAC in the vendor's form. */
export interface MacFile extends FileRule {
  name: (mac: string) => string;
}

/** One declaration of a per-device file gives the rule, `deviceFile` and the boot sequence's name. */
export function macFile(prefix: string, suffix: string, template: string, contentType: string, carries: 'secrets' | 'no secrets'): MacFile {
  return { ...deviceRule(macFileName(prefix, suffix), template, contentType, carries), name: (mac) => `${prefix}${mac}${suffix}` };
}

/**
 * A per-device file the phone uploads and may read back (Polycom <mac>-phone.cfg): stored as
 * sent, served only to that device's credential (a user may have typed a password into it).
 */
export function uploadRule(suffix: string, contentType: string): FileRule {
  return { pattern: macFileName('', suffix), kind: 'upload', template: '', contentType, sensitive: true };
}

/** A file any phone may fetch: never carries a secret. */
export function commonRule(pattern: RegExp, template: string, contentType: string, modelsFromMatch?: FileRule['modelsFromMatch']): FileRule {
  const rule: FileRule = { pattern, kind: 'common', template, contentType, sensitive: false };
  if (modelsFromMatch) rule.modelsFromMatch = modelsFromMatch;
  return rule;
}

/** The common file each model has under its own name (`name(model)`, e.g. Cisco's `spa504G.cfg`). */
export function perModelCommonRule(models: ModelInfo[], name: (model: ModelInfo) => string, template: string, contentType: string): FileRule {
  return commonRule(oneOfNames(models.map(name)), template, contentType, modelsNamed(models, name));
}

/** The models with `vars.common_file` set to `name(model)`, for templates that name it. */
export function withCommonFiles(models: ModelInfo[], name: (model: ModelInfo) => string): ModelInfo[] {
  return models.map((m) => ({ ...m, vars: { ...m.vars, common_file: name(m) } }));
}

/** A MAC as User-Agents print it: 12 hex digits, pairs with or without colons (not captured). */
export const UA_MAC = '[0-9a-f]{2}(?::?[0-9a-f]{2}){5}';

/** The 12 lowercase hex digits of a MAC a User-Agent printed (any case, colons or none). */
export function macFromUserAgent(text: string | undefined): string | undefined {
  return text?.replace(/:/g, '').toLowerCase();
}

/** The `templates/` folder beside a profile module: pass the profile's `import.meta.url`. */
export function templatesBeside(moduleUrl: string): string {
  return fileURLToPath(new URL('./templates/', moduleUrl));
}
