// Runs Debian's SIPp (`sipp`, package sip-tester) against the server on 127.0.0.1.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.ts';

export const SCENARIOS = join(ROOT, 'test/sipp');

export interface SippRun {
  code: number;
  successful: number;
  failed: number;
  output: string;
}

export interface SippOptions {
  scenario: string;
  /** Injection file rows (fields separated by ;). */
  rows?: string[];
  localPort: number;
  server?: { host: string; port: number };
  calls?: number;
  rate?: number;
  timeoutSeconds?: number;
  dir: string;
  extra?: string[];
  /** Address SIPp binds (default 127.0.0.1). */
  localIp?: string;
  /** Run SIPp inside this network namespace (a separate test host). */
  netns?: string;
}

/** Runs SIPp to completion (UAC) or until its call count is reached (UAS). */
export function sipp(o: SippOptions): Promise<SippRun> {
  const args = ['-sf', o.scenario.includes('/') ? o.scenario : join(SCENARIOS, o.scenario), '-p', String(o.localPort), '-i', o.localIp ?? '127.0.0.1', '-m', String(o.calls ?? 1), '-nostdin', '-timeout', `${o.timeoutSeconds ?? 20}s`, '-timeout_error', '-trace_err', '-trace_screen', '-max_recv_loops', '100000'];
  if (o.rate) args.push('-r', String(o.rate));
  if (o.rows) {
    const inf = join(o.dir, `inject-${o.localPort}-${Date.now()}.csv`);
    writeFileSync(inf, ['SEQUENTIAL', ...o.rows].join('\n') + '\n');
    args.push('-inf', inf);
  }
  if (o.server) args.push(`${o.server.host}:${o.server.port}`);
  args.push(...(o.extra ?? []));
  return new Promise((ok, fail) => {
    const child = o.netns ? spawn('ip', ['netns', 'exec', o.netns, 'sipp', ...args], { cwd: o.dir }) : spawn('sipp', args, { cwd: o.dir });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', fail);
    child.on('close', (code) => {
      const num = (label: string) => Number(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(output)?.[1] ?? 0);
      ok({ code: code ?? -1, successful: num('Successful call'), failed: num('Failed call'), output });
    });
  });
}

/** A scenario file from a template with its placeholder filled (e.g. the expected status). */
export function fromTemplate(dir: string, template: string, values: Record<string, string>): string {
  let text = readFileSync(join(SCENARIOS, template), 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.split(k).join(v);
  const file = join(dir, template.replace('.template', `-${Object.values(values).join('-')}`));
  writeFileSync(file, text);
  return file;
}

/** The newest message trace (-trace_msg) SIPp wrote in `dir` for a scenario whose file name starts with `scenario`. */
export function sippTrace(dir: string, scenario: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(scenario) && f.endsWith('_messages.log'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no SIPp message trace for ${scenario} in ${dir}`);
  return readFileSync(files[0]!, 'utf8');
}
