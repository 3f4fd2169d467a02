// Devices (phones) as CSV: a MAC, vendor and model, the extensions on its lines and a
// label, in the column names of our export, FusionPBX's device export
// (device_mac_address, device_vendor, device_template "yealink/t46s", device_label) or
// an endpoint-manager sheet (mac, brand, model, extension).
import { CsvInputError, readCsv, writeCsv, type Aliases, type CsvRow } from '../util/csv.js';
import { PbxError } from '../pbx/errors.js';
import type { Device, DeviceInput } from './devices.js';

const ALIASES: Aliases = {
  mac: ['mac_address', 'device_mac_address', 'macaddress', 'device_mac'],
  vendor: ['brand', 'device_vendor', 'manufacturer'],
  model: ['device_model'],
  template: ['device_template'],
  lines: ['extension', 'extensions', 'extension_number', 'line', 'line1', 'device_lines'],
  label: ['device_label', 'description', 'device_description', 'name'],
};

export const DEVICE_COLUMNS = ['mac', 'vendor', 'model', 'lines', 'label'] as const;

function input({ values }: CsvRow): DeviceInput {
  const cell = (c: string) => values.get(c) || undefined;
  let vendor = cell('vendor')?.toLowerCase();
  let model = cell('model');
  // FusionPBX names vendor and model together: yealink/t46s.
  const template = cell('template');
  if (template && template.includes('/')) {
    const [v, m] = template.split('/');
    vendor ??= v!.toLowerCase();
    model ??= m;
  }
  const lines = cell('lines')?.split(/[\s;|]+/).filter(Boolean);
  return { mac_address: values.get('mac') ?? '', vendor: vendor ?? '', model: model ?? '', ...(lines ? { lines } : {}), ...(cell('label') !== undefined ? { label: cell('label')! } : {}) };
}

export function deviceRows(text: string): { rows: { line: number; input: DeviceInput }[]; ignored: string[] } {
  try {
    const read = readCsv(text, ALIASES, ['mac']);
    return { rows: read.rows.map((r) => ({ line: r.line, input: input(r) })), ignored: read.ignored };
  } catch (err) {
    if (err instanceof CsvInputError) throw new PbxError('invalid', err.message, err.field);
    throw err;
  }
}

export function devicesCsv(list: readonly Device[]): string {
  return writeCsv(DEVICE_COLUMNS, list.map((d) => [d.mac, d.vendor, d.model, d.lines.join(' '), d.label]));
}
