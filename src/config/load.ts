// Reads config.yml, fills defaults and validates it. Every problem is reported with
// the key path, the line in the file, and what was expected, so an admin can fix it
// without reading code.
import { parseDialPattern } from '../util/dial-pattern.js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import Value from 'typebox/value';
import { Compile } from 'typebox/compile';
import { ConfigSchema, type PbxConfig } from './schema.js';

export interface ConfigIssue {
  /** Dotted key path, e.g. `api.port`; empty for the whole document. */
  path: string;
  /** 1-based line in the file, when the problem can be placed. */
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `Invalid configuration in ${file}:\n` +
        issues
          .map((i) => `  - ${i.path || '(document)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  /** Absolute path of the file the config came from. */
  file: string;
  config: PbxConfig;
}

const validator = Compile(ConfigSchema);

export function loadConfigFile(file: string): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(abs, [{ path: '', message: `cannot read file: ${(err as Error).message}` }]);
  }
  return { file: abs, config: parseConfigText(text, abs) };
}

/** Parses and validates config text; relative paths are resolved against the file's folder. */
export function parseConfigText(text: string, file: string): PbxConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One misplaced indent makes the parser report every line after it: the first error is
    // the one to fix, the rest usually follow from it.
    const first = doc.errors[0]!;
    const more = doc.errors.length - 1;
    throw new ConfigError(file, [
      {
        path: '',
        line: lines.linePos(first.pos[0]).line,
        message: `YAML syntax error: ${first.message.split('\n')[0]}${more ? ` (and ${more} more YAML error${more > 1 ? 's' : ''} after it, most likely caused by this one: check the indentation here first)` : ''}`,
      },
    ]);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', line: 1, message: 'expected a mapping of sections (server, api, …)' }]);
  }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw));
  const issues = collectIssues(withDefaults, doc, lines);
  if (issues.length > 0) throw new ConfigError(file, issues);
  const config = withDefaults as PbxConfig;
  issues.push(...semanticIssues(config, doc, lines));
  if (issues.length > 0) throw new ConfigError(file, issues);
  return resolvePaths(config, dirname(file));
}

function collectIssues(value: unknown, doc: Document, lines: LineCounter): ConfigIssue[] {
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  let message: string;
  for (const error of validator.Errors(value)) {
    const segments = error.instancePath.split('/').slice(1).map(decodePointer);
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'additionalProperties') {
      const extra = (params.additionalProperties as string[] | undefined) ?? [];
      for (const key of extra) {
        const path = [...segments, key];
        pushIssue(issues, seen, doc, lines, path, `unknown key "${key}"${suggest(key, segments)}`);
      }
      continue;
    }
    if (error.keyword === 'boolean') continue; // reported by additionalProperties with the key name
    if (error.keyword === 'required') {
      const missing = (params.requiredProperties as string[] | undefined) ?? [];
      for (const key of missing) pushIssue(issues, seen, doc, lines, [...segments, key], 'is required');
      continue;
    }
    const allowed = KNOWN_UNIONS[segments.join('.').replace(/\.\d+$/, '[]')];
    message = allowed && ['const', 'anyOf', 'enum'].includes(error.keyword)
      ? `expected one of: ${allowed.join(', ')}`
      : describe(error.keyword, params, error.message);
    pushIssue(issues, seen, doc, lines, segments, `${message}${foundValue(doc, segments)}`);
  }
  // A union failure also lists each branch; keep the first message per path.
  return issues;
}

function pushIssue(
  issues: ConfigIssue[],
  seen: Set<string>,
  doc: Document,
  lines: LineCounter,
  segments: string[],
  message: string,
): void {
  const path = segments.join('.');
  if (seen.has(path)) return;
  seen.add(path);
  issues.push({ path, line: lineOf(doc, lines, segments), message });
}

function describe(keyword: string, params: Record<string, unknown>, fallback: string): string {
  switch (keyword) {
    case 'type':
      return `expected ${String(params.type)}`;
    case 'minimum':
      return `expected a number >= ${String(params.limit ?? params.comparison ?? '')}`.trim();
    case 'maximum':
      return `expected a number <= ${String(params.limit ?? params.comparison ?? '')}`.trim();
    case 'const':
    case 'anyOf':
    case 'enum':
      return `expected one of the allowed values`;
    case 'pattern':
      return `expected text matching ${String(params.pattern)}`;
    case 'minLength':
      return 'must not be empty';
    case 'minItems':
      return `expected at least ${String(params.limit ?? 1)} item(s)`;
    default:
      return fallback;
  }
}

function foundValue(doc: Document, segments: string[]): string {
  const node = doc.getIn(segments, true) as Node | undefined;
  if (node && isScalar(node)) return ` (found ${JSON.stringify(node.value)})`;
  return '';
}

const KNOWN_UNIONS: Record<string, string[]> = {
  'database.type': ['sqlite', 'postgresql'],
  'server.sip_transport': ['udp', 'tcp', 'tls'],
  'provisioning.site.dtmf_mode': ['rfc2833', 'inband', 'info'],
  'sip.digest_algorithms[]': ['SHA-256', 'MD5'],
  'provisioning.site.codecs[]': ['PCMU', 'PCMA', 'G722', 'G729', 'opus'],
  'logging.level': ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
};

function semanticIssues(config: PbxConfig, doc: Document, lines: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const fmt = config.provisioning.url_format;
  if (!/^https?:\/\/[^/]+\/provision\//i.test(fmt)) {
    issues.push({
      path: 'provisioning.url_format',
      line: lineOf(doc, lines, ['provisioning', 'url_format']),
      message: `expected a URL of the form http(s)://<host>:<port>/provision/<file>, e.g. http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg (found ${JSON.stringify(fmt)})`,
    });
  }
  if (config.api.ssl.enabled && (!config.api.ssl.cert_file || !config.api.ssl.key_file)) {
    issues.push({
      path: 'api.ssl',
      line: lineOf(doc, lines, ['api', 'ssl']),
      message: 'enabled is true, so cert_file and key_file must name the certificate and key files',
    });
  }
  if (config.server.sip_tls_port > 0 && (!config.api.ssl.cert_file || !config.api.ssl.key_file)) {
    issues.push({
      path: 'server.sip_tls_port',
      line: lineOf(doc, lines, ['server', 'sip_tls_port']),
      message: 'SIP over TLS needs api.ssl.cert_file and api.ssl.key_file',
    });
  }
  config.dialplan.outbound_routes.forEach((route, i) => {
    route.patterns.forEach((p, j) => {
      try {
        parseDialPattern(p);
      } catch (err) {
        issues.push({ path: `dialplan.outbound_routes.${i}.patterns.${j}`, line: lineOf(doc, lines, ['dialplan', 'outbound_routes', i, 'patterns', j]), message: (err as Error).message });
      }
    });
  });
  if (config.media.rtp_port_max - config.media.rtp_port_min < 3) {
    issues.push({
      path: 'media.rtp_port_max',
      line: lineOf(doc, lines, ['media', 'rtp_port_max']),
      message: `must be at least 3 above media.rtp_port_min (${config.media.rtp_port_min}): each stream takes an even RTP port and the RTCP port above it (found ${config.media.rtp_port_max})`,
    });
  }
  if (config.server.sip_transport === 'tls' && config.server.sip_tls_port === 0) {
    issues.push({
      path: 'server.sip_transport',
      line: lineOf(doc, lines, ['server', 'sip_transport']),
      message: 'is tls, so server.sip_tls_port must name the TLS listener phones are sent to',
    });
  }
  const hp = config.provisioning.http_port;
  if (hp > 0 && (hp === config.api.port || hp === config.server.sip_port)) {
    issues.push({
      path: 'provisioning.http_port',
      line: lineOf(doc, lines, ['provisioning', 'http_port']),
      message: `must differ from api.port and server.sip_port (found ${hp})`,
    });
  }
  const tp = config.provisioning.tftp_port;
  if (tp > 0 && tp === config.server.sip_port) {
    issues.push({
      path: 'provisioning.tftp_port',
      line: lineOf(doc, lines, ['provisioning', 'tftp_port']),
      message: `must differ from server.sip_port: both are UDP (found ${tp})`,
    });
  }
  if (config.database.type === 'postgresql' && !config.database.url) {
    issues.push({
      path: 'database.url',
      line: lineOf(doc, lines, ['database']),
      message: 'expected a postgres:// connection URL when database.type is postgresql',
    });
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone: config.provisioning.site.timezone });
  } catch {
    issues.push({
      path: 'provisioning.site.timezone',
      line: lineOf(doc, lines, ['provisioning', 'site', 'timezone']),
      message: `expected an IANA time zone such as Europe/Berlin (found ${JSON.stringify(config.provisioning.site.timezone)})`,
    });
  }
  return issues;
}

/**
 * Relative paths are resolved against the config file's folder; relative *data* paths
 * (database, key, security log) against $PBX_DATA_DIR when it is set, so a service can
 * keep its config in /etc/pbx and its data in /var/lib/pbx (docs/INSTALL.md, pbx.service).
 */
function resolvePaths(config: PbxConfig, base: string): PbxConfig {
  const at = (p: string) => (p ? resolve(base, p) : p);
  const dataDir = process.env.PBX_DATA_DIR ? resolve(process.env.PBX_DATA_DIR) : base;
  const data = (p: string) => (p ? resolve(dataDir, p) : p);
  config.database.path = data(config.database.path);
  config.security.key_file = data(config.security.key_file);
  config.security.log_file = data(config.security.log_file);
  config.provisioning.uploads_dir = data(config.provisioning.uploads_dir);
  config.voicemail.dir = data(config.voicemail.dir);
  config.voicemail.prompts_dir = at(config.voicemail.prompts_dir);
  config.provisioning.custom_templates_dir = at(config.provisioning.custom_templates_dir);
  config.api.ssl.cert_file = at(config.api.ssl.cert_file);
  config.api.ssl.key_file = at(config.api.ssl.key_file);
  return config;
}

function lineOf(doc: Document, lines: LineCounter, segments: (string | number)[]): number | undefined {
  // Walk down as far as the document goes: a missing key is placed at its parent.
  for (let depth = segments.length; depth >= 0; depth--) {
    const path = segments.slice(0, depth);
    const node = path.length === 0 ? doc.contents : (doc.getIn(path, true) as Node | undefined);
    const keyNode = depth > 0 ? findKeyNode(doc, path) : undefined;
    const range = keyNode?.range ?? (node as Node | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return undefined;
}

function findKeyNode(doc: Document, path: (string | number)[]): Node | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const last = path[path.length - 1];
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === last);
  return pair && isScalar(pair.key) ? pair.key : undefined;
}

function decodePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function suggest(key: string, parent: string[]): string {
  const known = knownKeys(parent);
  const close = known.find((k) => editDistance(k, key) <= 2);
  const list = known.length ? `; known keys here: ${known.join(', ')}` : '';
  return close ? ` (did you mean "${close}"?)` : list;
}

function knownKeys(parent: string[]): string[] {
  let schema: unknown = ConfigSchema;
  for (const seg of parent) {
    const s = schema as { properties?: Record<string, unknown>; items?: unknown };
    schema = /^\d+$/.test(seg) ? s.items : s.properties?.[seg];
    if (!schema) return [];
  }
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  return props ? Object.keys(props) : [];
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(
        dp[i - 1]![j]! + 1,
        dp[i]![j - 1]! + 1,
        dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return dp[a.length]![b.length]!;
}
