// What a dialled outside number is, from the site's numbering plan: its E.164 form
// (`+` country code and number, ITU-T E.164) and its class, which an extension's class
// of service must reach (local < national < international). Emergency numbers are
// their own class: always allowed, never limited.

export interface NumberingPlan {
  /** The site's country calling code, digits only ('1', '44', '49'). */
  countryCode: string;
  /** The site's area code, for numbers dialled without one (null: none). */
  areaCode: string | null;
  /** Dialled before a national number with its area code ('1' in NANP, '0' in most of Europe; '' for none). */
  nationalPrefix: string;
  /** Dialled before a country code ('011' in NANP, '00' in most of the world). */
  internationalPrefix: string;
  /** A national number dialled with no prefix has this many digits (10 in NANP; null: not dialled so). */
  nationalLength: number | null;
  emergencyNumbers: string[];
}

/** The plan as config.yml's dialplan section writes it. */
export function numberingPlan(d: { country_code: string; area_code: string; national_prefix: string; international_prefix: string; national_length: number; emergency_numbers: string[] }): NumberingPlan {
  return {
    countryCode: d.country_code,
    areaCode: d.area_code || null,
    nationalPrefix: d.national_prefix,
    internationalPrefix: d.international_prefix,
    nationalLength: d.national_length || null,
    emergencyNumbers: d.emergency_numbers,
  };
}

export type CallClass = 'emergency' | 'local' | 'national' | 'international';

/** The order classes of service reach: an extension allowed 'national' may call local and national numbers. */
export const CLASS_ORDER: readonly Exclude<CallClass, 'emergency'>[] = ['local', 'national', 'international'];

export interface ClassifiedNumber {
  /** The E.164 form ('+' and up to 15 digits), or null when the number has none (a short code, an emergency number). */
  e164: string | null;
  class: CallClass;
}

export function classifyNumber(dialled: string, plan: NumberingPlan): ClassifiedNumber {
  if (plan.emergencyNumbers.includes(dialled)) return { e164: null, class: 'emergency' };
  const e164 = toE164(dialled, plan);
  if (!e164) {
    // A short code (information, a service number) is local; anything longer we cannot
    // place is treated as the most expensive kind: toll fraud hides in such numbers.
    return { e164: null, class: /^[0-9*#]{1,6}$/.test(dialled) ? 'local' : 'international' };
  }
  const home = `+${plan.countryCode}`;
  if (!e164.startsWith(home)) return { e164, class: 'international' };
  if (plan.areaCode && e164.startsWith(`${home}${plan.areaCode}`)) return { e164, class: 'local' };
  return { e164, class: 'national' };
}

/** The number in E.164 form, or null when the plan does not say what it is. */
export function toE164(dialled: string, plan: NumberingPlan): string | null {
  const valid = (digits: string) => (/^[0-9]{4,15}$/.test(digits) ? `+${digits}` : null);
  if (dialled.startsWith('+')) return valid(dialled.slice(1));
  if (!/^[0-9]+$/.test(dialled)) return null;
  if (plan.internationalPrefix && dialled.startsWith(plan.internationalPrefix)) return valid(dialled.slice(plan.internationalPrefix.length));
  if (plan.nationalLength !== null && dialled.length === plan.nationalLength) return valid(plan.countryCode + dialled);
  if (plan.nationalPrefix && dialled.startsWith(plan.nationalPrefix) && dialled.length > plan.nationalPrefix.length + 3) {
    return valid(plan.countryCode + dialled.slice(plan.nationalPrefix.length));
  }
  // A subscriber number alone (7 or 8 digits, say): in the site's own area.
  if (plan.areaCode && dialled.length >= 5 && dialled.length <= 8) return valid(plan.countryCode + plan.areaCode + dialled);
  return null;
}

/** Whether an extension with class of service `allowed` may call a number of class `c` (emergency: always). */
export function classAllows(allowed: Exclude<CallClass, 'emergency'> | 'internal', c: CallClass): boolean {
  if (c === 'emergency') return true;
  if (allowed === 'internal') return false;
  return CLASS_ORDER.indexOf(c) <= CLASS_ORDER.indexOf(allowed);
}
