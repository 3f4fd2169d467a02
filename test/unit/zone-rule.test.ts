// The daylight-saving rule a phone is given must predict the zone's real offset all year:
// the rule (month, nth or last weekday, local time) is evaluated as a phone would, and
// compared with the tz database Node ships, every three hours of two years.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { offsetAt, zoneRule, type DstChange } from '../../src/util/zone-rule.ts';

/** The UTC instant a phone would change its clock, given the rule and the offset in force before. */
function changeAt(year: number, c: DstChange, offsetBefore: number): number {
  let day: number;
  if (c.week === 0) day = c.day;
  else if (c.week === 5) {
    const last = new Date(Date.UTC(year, c.month, 0));
    day = last.getUTCDate() - ((((last.getUTCDay() || 7) - c.weekday) + 7) % 7);
  } else {
    const first = new Date(Date.UTC(year, c.month - 1, 1)).getUTCDay() || 7;
    day = 1 + ((c.weekday - first + 7) % 7) + (c.week - 1) * 7;
  }
  return Date.UTC(year, c.month - 1, day, c.hour, c.minute) - offsetBefore * 60_000;
}

function offsetByRule(zone: string, at: number): number {
  const year = new Date(at).getUTCFullYear();
  const rule = zoneRule(zone, year);
  if (!rule.dst) return rule.standardMinutes;
  const summer = rule.standardMinutes + rule.dst.saveMinutes;
  const start = changeAt(year, rule.dst.start, rule.standardMinutes);
  const end = changeAt(year, rule.dst.end, summer);
  const inDst = start < end ? at >= start && at < end : at >= start || at < end;
  return inDst ? summer : rule.standardMinutes;
}

const zones = ['America/New_York', 'America/Los_Angeles', 'America/St_Johns', 'Europe/Berlin', 'Europe/London', 'Australia/Sydney', 'Pacific/Auckland', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Asia/Tokyo', 'America/Phoenix', 'UTC'];

for (const zone of zones) {
  test(`${zone}: the rule given to phones predicts the real offset, every 3 hours of 2026 and 2027`, () => {
    let wrong = 0;
    const first: string[] = [];
    for (let at = Date.UTC(2026, 0, 1); at < Date.UTC(2028, 0, 1); at += 3 * 3600_000) {
      const real = offsetAt(zone, at);
      const predicted = offsetByRule(zone, at);
      if (real !== predicted) {
        wrong++;
        if (first.length < 3) first.push(`${new Date(at).toISOString()}: real ${real}, rule ${predicted}`);
      }
    }
    assert.equal(wrong, 0, first.join('; '));
  });
}

test('known rules, as the tz database writes them', () => {
  assert.equal(zoneRule('America/New_York', 2026).posix, 'EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00');
  const berlin = zoneRule('Europe/Berlin', 2026);
  assert.equal(berlin.standardMinutes, 60);
  assert.deepEqual([berlin.dst?.start.month, berlin.dst?.start.week, berlin.dst?.start.weekday, berlin.dst?.start.hour], [3, 5, 7, 2], 'last Sunday of March, 02:00');
  assert.deepEqual([berlin.dst?.end.month, berlin.dst?.end.week, berlin.dst?.end.hour], [10, 5, 3], 'last Sunday of October, 03:00 summer time');
  const sydney = zoneRule('Australia/Sydney', 2026);
  assert.deepEqual([sydney.dst?.start.month, sydney.dst?.end.month], [10, 4], 'southern hemisphere: starts in October, ends in April');
  const kolkata = zoneRule('Asia/Kolkata', 2026);
  assert.equal(kolkata.dst, null);
  assert.equal(kolkata.standardMinutes, 330);
  assert.throws(() => zoneRule('Mars/Olympus_Mons'), RangeError);
});
