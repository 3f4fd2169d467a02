// A time zone's standard offset and daylight-saving rule, as desk phones want them: phones
// keep no tz database, so each vendor takes the rule in its own form ("2nd Sunday of March
// at 02:00", a POSIX TZ string …). The rule is read from the zone data Node ships (ICU, via
// Intl): the year's transitions are found, then stated as month / week / weekday / local
// time, the way the POSIX TZ rules in the tz database are written. Nothing here is per
// vendor; the vendor templates format these fields.

export interface DstChange {
  month: number;
  /** 1–4: the nth `weekday` of the month; 5: the last one. 0 when the rule is a fixed date. */
  week: number;
  /** ISO weekday, 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Day of the month this year. */
  day: number;
  /** Local wall time when the change happens, in the time in force before it. */
  hour: number;
  minute: number;
}

export interface ZoneRule {
  zone: string;
  /** Standard (winter) offset from UTC, minutes east. */
  standardMinutes: number;
  dst: { saveMinutes: number; start: DstChange; end: DstChange } | null;
  /** The rule as a POSIX TZ string, e.g. `EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00`. */
  posix: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const cache = new Map<string, ZoneRule>();

/** The zone's rule in the given year (this year by default). Throws RangeError for an unknown zone. */
export function zoneRule(zone: string, year = new Date().getUTCFullYear()): ZoneRule {
  const key = `${zone}|${year}`;
  let rule = cache.get(key);
  if (!rule) {
    rule = computeRule(zone, year);
    if (cache.size > 1000) cache.clear();
    cache.set(key, rule);
  }
  return rule;
}

function computeRule(zone: string, year: number): ZoneRule {
  const transitions = transitionsIn(zone, year);
  const forward = transitions.find((t) => t.after > t.before);
  const back = forward && (transitions.find((t) => t.after < t.before && t.at > forward.at) ?? transitions.find((t) => t.after < t.before));
  if (!forward || !back) {
    const standardMinutes = offsetAt(zone, Date.UTC(year, 0, 1));
    return { zone, standardMinutes, dst: null, posix: posixNoDst(zone, standardMinutes, year) };
  }
  const standardMinutes = forward.before;
  const saveMinutes = forward.after - forward.before;
  // The same rule, seen over seven years, shows whether "day 25–31" means "the last Sunday"
  // and whether the weekday moves (a fixed date).
  const years = [0, 1, 2, 3, 4, 5, 6].map((i) => (i === 0 ? transitions : transitionsIn(zone, year + i)));
  const startDays = years.map((ts) => localDate(ts.find((t) => t.after > t.before)?.at, standardMinutes));
  const endDays = years.map((ts) => localDate(ts.find((t) => t.after < t.before)?.at, standardMinutes + saveMinutes));
  const start = describe(forward.at, standardMinutes, startDays);
  const end = describe(back.at, standardMinutes + saveMinutes, endDays);
  const dst = { saveMinutes, start, end };
  return { zone, standardMinutes, dst, posix: posixWithDst(zone, standardMinutes, dst, forward.at, back.at) };
}

interface Transition {
  at: number;
  before: number;
  after: number;
}

/** Instants in `year` where the zone's offset changes, to the minute. */
function transitionsIn(zone: string, year: number): Transition[] {
  const out: Transition[] = [];
  const from = Date.UTC(year, 0, 1);
  const to = Date.UTC(year + 1, 0, 1);
  let prevAt = from;
  let prev = offsetAt(zone, from);
  for (let t = from + DAY; t <= to; t += DAY) {
    const off = offsetAt(zone, t);
    if (off !== prev) {
      let lo = prevAt;
      let hi = t;
      while (hi - lo > MINUTE) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
        if (offsetAt(zone, mid) === prev) lo = mid;
        else hi = mid;
      }
      out.push({ at: hi, before: prev, after: off });
      prev = off;
    }
    prevAt = t;
  }
  return out;
}

/** The offset in force at `at`, minutes east of UTC. */
export function offsetAt(zone: string, at: number): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    formatters.set(zone, f);
  }
  const name = f.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -minutes : minutes;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

function localDate(at: number | undefined, offsetMinutes: number): LocalDate | undefined {
  if (at === undefined) return undefined;
  const d = new Date(at + offsetMinutes * MINUTE);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    weekday: d.getUTCDay() || 7,
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
  };
}

function describe(at: number, offsetMinutes: number, sameRuleInYears: (LocalDate | undefined)[]): DstChange {
  const d = localDate(at, offsetMinutes)!;
  const seen = sameRuleInYears.filter((x): x is LocalDate => x !== undefined && x.month === d.month);
  const fixedDate = seen.some((x) => x.weekday !== d.weekday);
  const week = fixedDate ? 0 : seen.some((x) => x.day > 28) || d.day > 28 ? 5 : Math.ceil(d.day / 7);
  return { month: d.month, week, weekday: d.weekday, day: d.day, hour: d.hour, minute: d.minute };
}

/** Zone abbreviation as POSIX wants it (3+ letters), or a neutral one. */
function abbreviation(zone: string, at: number, fallback: string): string {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
  return /^[A-Za-z]{3,6}$/.test(name) && !/^(GMT|UTC)$/.test(name) ? name : fallback;
}

/** POSIX offsets count west: UTC-5 is `5`, UTC+5:30 is `-5:30`. */
function posixOffset(minutesEast: number): string {
  const west = -minutesEast;
  const abs = Math.abs(west);
  const h = Math.floor(abs / 60);
  const m = abs % 60;
  return `${west < 0 ? '-' : ''}${h}${m ? `:${String(m).padStart(2, '0')}` : ''}`;
}

const two = (n: number) => String(n).padStart(2, '0');

function posixChange(c: DstChange, dayOfYear: number): string {
  const date = c.week === 0 ? `J${dayOfYear}` : `M${c.month}.${c.week}.${c.weekday % 7}`;
  return `${date}/${two(c.hour)}:${two(c.minute)}:00`;
}

function julianDay(at: number, offsetMinutes: number): number {
  const d = new Date(at + offsetMinutes * MINUTE);
  const startOfYear = Date.UTC(d.getUTCFullYear(), 0, 1);
  const isLeap = new Date(Date.UTC(d.getUTCFullYear(), 1, 29)).getUTCMonth() === 1;
  const n = Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - startOfYear) / DAY) + 1;
  // Jn never counts 29 February.
  return isLeap && n > 59 ? n - 1 : n;
}

function posixNoDst(zone: string, standardMinutes: number, year: number): string {
  return `${abbreviation(zone, Date.UTC(year, 0, 1), 'STD')}${posixOffset(standardMinutes)}`;
}

function posixWithDst(zone: string, standardMinutes: number, dst: NonNullable<ZoneRule['dst']>, startAt: number, endAt: number): string {
  const inWinter = startAt - 7 * DAY;
  const inSummer = startAt + 7 * DAY;
  const std = abbreviation(zone, inWinter, 'STD');
  const day = abbreviation(zone, inSummer, 'DST');
  const start = posixChange(dst.start, julianDay(startAt, standardMinutes));
  const end = posixChange(dst.end, julianDay(endAt, standardMinutes + dst.saveMinutes));
  return `${std}${posixOffset(standardMinutes)}${day}${posixOffset(standardMinutes + dst.saveMinutes)},${start},${end}`;
}
