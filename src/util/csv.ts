// CSV in and out for bulk import and export (csv-parse / csv-stringify). Columns are
// found by name, in any order and case, under the names other PBXes export them with
// (aliases); columns nobody knows are reported, not fatal. Each row keeps the line it
// started on, so errors can name it.
import { parse, CsvError } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** Input that cannot be read as the CSV asked for; `field` names the column (or 'csv'). */
export class CsvInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'CsvInputError';
  }
}

export interface CsvRow {
  /** The file line the row starts on (the header is line 1). */
  line: number;
  /** Values by canonical column name; a column the file lacks is absent, an empty cell is ''. */
  values: Map<string, string>;
}

/** Canonical column → the header names that mean it (lower case, spaces and dashes as _). */
export type Aliases = Record<string, readonly string[]>;

const normalise = (h: string) => h.trim().toLowerCase().replace(/[\s-]+/g, '_');

export function readCsv(text: string, aliases: Aliases, required: string[]): { rows: CsvRow[]; ignored: string[] } {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true, info: true, relax_column_count: true }) as never;
  } catch (err) {
    const line = err instanceof CsvError ? (err as CsvError & { lines?: number }).lines : undefined;
    throw new CsvInputError(`The CSV is malformed${line ? ` at line ${line}` : ''}: ${(err as Error).message}`, 'csv');
  }
  const header = records.shift();
  if (!header) throw new CsvInputError('The CSV is empty: it needs a header line and one row per entry', 'csv');
  const byAlias = new Map<string, string>();
  for (const [column, names] of Object.entries(aliases)) for (const n of [column, ...names]) byAlias.set(n, column);
  const columns = header.record.map((h) => byAlias.get(normalise(h)) ?? null);
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new CsvInputError(`The CSV header lacks ${missing.join(', ')} (columns: ${header.record.join(', ')}; accepted names: ${missing.map((m) => [m, ...(aliases[m] ?? [])].join('/')).join('; ')})`, 'csv');
  }
  const ignored = header.record.filter((_, i) => columns[i] === null);
  let previousEnd = header.info.lines;
  const rows = records.map(({ record, info }) => {
    const values = new Map<string, string>();
    record.forEach((v, i) => {
      const c = columns[i];
      // Two columns meaning the same thing: the first one with a value counts.
      if (c && !values.get(c)) values.set(c, v);
    });
    // info.lines is where the record ended; it started on the line after the previous one.
    const row = { line: previousEnd + 1, values };
    previousEnd = info.lines;
    return row;
  });
  return { rows, ignored };
}

export function writeCsv(columns: readonly string[], records: readonly (readonly (string | number | boolean | null)[])[]): string {
  return stringify([[...columns], ...records.map((r) => r.map((v) => (v === null ? '' : String(v))))]);
}

/** A yes/no cell: true/false, yes/no, 1/0, on/off, enabled/disabled; an empty or absent cell is undefined. */
export function cellBoolean(value: string | undefined, field: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (['true', 'yes', '1', 'on', 'enabled'].includes(v)) return true;
  if (['false', 'no', '0', 'off', 'disabled'].includes(v)) return false;
  throw new CsvInputError(`${field} must be true or false (yes/no, 1/0), not "${value}"`, field);
}
