// MAC addresses are stored as 12 lowercase hex digits and rendered per vendor on output.

const SEPARATED = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;
const CISCO_DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;
const BARE = /^[0-9a-f]{12}$/i;

/** Accepts `68:79:09:9b:e7:68`, `68-79-09-9B-E7-68`, `6879.099b.e768`, `6879099be768`; null otherwise. */
export function normalizeMac(input: string): string | null {
  const s = input.trim();
  let hex: string | undefined;
  if (BARE.test(s)) hex = s;
  else {
    const sep = SEPARATED.exec(s);
    if (sep) {
      // Reject mixed separators such as 68:79-09…: a typo, not a form anyone uses.
      const seps = s.replace(/[0-9a-f]/gi, '');
      if (new Set(seps).size === 1) hex = sep.slice(1).join('');
    } else {
      const dotted = CISCO_DOTTED.exec(s);
      if (dotted) hex = dotted.slice(1).join('');
    }
  }
  if (!hex) return null;
  hex = hex.toLowerCase();
  if (hex === '000000000000' || hex === 'ffffffffffff') return null;
  return hex;
}

export type MacForm = 'lower' | 'upper' | 'colon' | 'colon-upper';

export function formatMac(mac: string, form: MacForm): string {
  switch (form) {
    case 'lower':
      return mac;
    case 'upper':
      return mac.toUpperCase();
    case 'colon':
      return mac.replace(/(..)(?!$)/g, '$1:');
    case 'colon-upper':
      return mac.toUpperCase().replace(/(..)(?!$)/g, '$1:');
  }
}
