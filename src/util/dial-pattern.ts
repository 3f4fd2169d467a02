// Dial patterns as FreePBX and Asterisk admins write them, for outbound routes:
//   X any digit, Z 1–9, N 2–9, [1-5] or [1237-9] one digit of a set, `.` one or more of
//   anything, `!` zero or more, other characters (digits, *, #, +) themselves.
// A pattern may strip a prefix and prepend digits: `prepend+prefix|match`, e.g.
// `9|NXXNXXXXXX` (dial 9 then a number: the 9 is stripped), `1+NXXNXXXXXX` (1 is added
// in front), `44+0|Z.` (a national number starting 0: the 0 dropped, 44 added). A '+'
// that starts the pattern (or the part after '|') is a dialled '+': `+.`, `00|+.`.
// Bad patterns are refused with what is wrong and where.

export class DialPatternError extends Error {
  constructor(
    readonly pattern: string,
    message: string,
  ) {
    super(`Dial pattern "${pattern}": ${message}`);
    this.name = 'DialPatternError';
  }
}

export interface DialPattern {
  /** As written by the admin. */
  source: string;
  prepend: string;
  prefix: string;
  /** The match part, compiled (anchored, case-insensitive). */
  match: RegExp;
}

const DIALABLE = /^[0-9*#+]*$/;

export function parseDialPattern(source: string): DialPattern {
  const s = source.trim();
  if (s === '') throw new DialPatternError(source, 'empty');
  let rest = s;
  let prepend = '';
  // Digits then '+' at the start say what to prepend; a '+' that starts the pattern is a dialled '+'.
  const head = /^([0-9*#]+)\+(.*)$/.exec(rest);
  if (head) {
    prepend = head[1]!;
    rest = head[2]!;
  }
  let prefix = '';
  const bar = rest.indexOf('|');
  if (bar !== -1) {
    prefix = rest.slice(0, bar);
    rest = rest.slice(bar + 1);
    if (rest.includes('|')) throw new DialPatternError(source, 'more than one "|"');
  }
  if (!DIALABLE.test(prepend)) throw new DialPatternError(source, `what is prepended ("${prepend}") must be digits, *, # or +`);
  if (!DIALABLE.test(prefix)) throw new DialPatternError(source, `the prefix before "|" ("${prefix}") must be digits, *, # or +`);
  if (rest === '') throw new DialPatternError(source, 'nothing to match after the prefix');
  return { source: s, prepend, prefix, match: new RegExp(`^${compile(rest, source)}$`) };
}

function compile(match: string, source: string): string {
  let out = '';
  for (let i = 0; i < match.length; i++) {
    const c = match[i]!;
    switch (c.toUpperCase()) {
      case 'X':
        out += '[0-9]';
        break;
      case 'Z':
        out += '[1-9]';
        break;
      case 'N':
        out += '[2-9]';
        break;
      case '.':
        out += '.+';
        break;
      case '!':
        out += '.*';
        break;
      case '[': {
        const end = match.indexOf(']', i);
        if (end === -1) throw new DialPatternError(source, `"[" at position ${i + 1} is not closed`);
        const set = match.slice(i + 1, end);
        if (!/^(?:[0-9](?:-[0-9])?)+$/.test(set)) throw new DialPatternError(source, `[${set}] must list digits or ranges of digits, e.g. [1-5] or [1237-9]`);
        for (const [, lo, hi] of set.matchAll(/([0-9])-([0-9])/g)) {
          if (lo! > hi!) throw new DialPatternError(source, `the range ${lo}-${hi} runs backwards`);
        }
        out += `[${set}]`;
        i = end;
        break;
      }
      default:
        if (!/[0-9*#+]/.test(c)) throw new DialPatternError(source, `"${c}" at position ${i + 1} is neither a digit, *, #, + nor one of X Z N [ ] . !`);
        out += c === '*' || c === '+' ? `\\${c}` : c;
    }
  }
  return out;
}

/** The number to send for `dialled` when the pattern takes it (prefix stripped, prepend added), else null. */
export function applyDialPattern(p: DialPattern, dialled: string): string | null {
  if (!dialled.startsWith(p.prefix)) return null;
  const rest = dialled.slice(p.prefix.length);
  if (!p.match.test(rest)) return null;
  return p.prepend + rest;
}
