// Extensions as CSV: read the files admins bring from FreePBX (Bulk Handler:
// extension, name, secret, voicemail_vmpwd …) or FusionPBX (extension, password,
// effective_caller_id_name, voicemail_password, enabled …), and write ours back.
import { cellBoolean, CsvInputError, readCsv, writeCsv, type Aliases } from '../util/csv.js';
import { PbxError } from './errors.js';
import type { Extension, ExtensionInput, ImportRow, RowError } from './extensions.js';
import type { DigestAlgorithm } from '../sip/digest.js';

const ALIASES: Aliases = {
  number: ['extension', 'ext', 'extension_number', 'exten'],
  name: ['display_name', 'displayname', 'effective_caller_id_name', 'caller_id_name'],
  password: ['secret', 'sip_password', 'sip_secret', 'devicesecret'],
  voicemail_pin: ['vmpwd', 'voicemail_vmpwd', 'voicemail_password', 'vm_password'],
  enabled: ['extension_enabled', 'enable'],
  outbound_class: ['class', 'class_of_service'],
  digest_algorithms: ['algorithms'],
};

export const EXPORT_COLUMNS = ['number', 'name', 'enabled', 'outbound_class', 'digest_algorithms'] as const;

/** The rows of an extensions CSV, each checked for form; a row whose cells cannot be read is an error of its line. */
export function extensionRows(text: string, o: { allowWeakPasswords: boolean }): { rows: ImportRow[]; errors: RowError[]; ignored: string[] } {
  let read;
  try {
    read = readCsv(text, ALIASES, ['number']);
  } catch (err) {
    if (err instanceof CsvInputError) throw new PbxError('invalid', err.message, err.field);
    throw err;
  }
  const rows: ImportRow[] = [];
  const errors: RowError[] = [];
  for (const { line, values } of read.rows) {
    try {
      const cell = (c: string) => {
        const v = values.get(c);
        return v === undefined || v === '' ? undefined : v;
      };
      const input: ExtensionInput = { number: values.get('number') ?? '', allow_weak_password: o.allowWeakPasswords };
      if (cell('name') !== undefined) input.name = cell('name');
      if (cell('password') !== undefined) input.password = cell('password');
      if (cell('voicemail_pin') !== undefined) input.voicemail_pin = cell('voicemail_pin');
      const enabled = cellBoolean(values.get('enabled'), 'enabled');
      if (enabled !== undefined) input.enabled = enabled;
      if (cell('outbound_class') !== undefined) input.outbound_class = cell('outbound_class') as ExtensionInput['outbound_class'];
      const algorithms = cell('digest_algorithms');
      if (algorithms !== undefined) input.digest_algorithms = algorithms.split(/[\s;|]+/).filter(Boolean) as DigestAlgorithm[];
      rows.push({ line, input });
    } catch (err) {
      if (!(err instanceof CsvInputError)) throw err;
      errors.push({ line, field: err.field, message: err.message });
    }
  }
  return { rows, errors, ignored: read.ignored };
}

/** Extensions as CSV, in number order; with their SIP passwords only when asked (a migration to another box). */
export function extensionsCsv(list: readonly Extension[], withPasswords: boolean): string {
  const columns = withPasswords ? [...EXPORT_COLUMNS, 'password'] : [...EXPORT_COLUMNS];
  return writeCsv(
    columns,
    list.map((e) => [e.number, e.name, e.enabled, e.outboundClass, e.digestAlgorithms?.join(';') ?? null, ...(withPasswords ? [e.secret] : [])]),
  );
}
