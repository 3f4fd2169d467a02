// Bans made on one pbx node hold on every node: a scanner or password guesser whose
// requests the edge or nginx spreads over the nodes is refused by all of them once one
// has banned it. Each ban is announced on the database's change channel (PostgreSQL's
// NOTIFY, `OpenedDatabase.announce`) as `<guard> <address> <until>`; nothing is stored,
// so a node that starts later does not learn older bans. One node only (SQLite): nothing
// to tell.
import type { Logger } from 'pino';
import type { OpenedDatabase } from '../storage/database.js';

/** The change channel's name for bans (no table of that name exists). */
export const BANS = 'bans';

/** A guard whose bans are shared, named by its key in the announcements (sip, provisioning). */
export interface SharedGuard {
  /** Hooks the bans the guard makes itself. */
  onOwnBan(announce: (ip: string, until: number) => void): void;
  /** Holds a ban another node made. */
  hold(ip: string, until: number): void;
}

/** Announces every ban the guards make here to the other nodes. */
export function announceBans(database: Pick<OpenedDatabase, 'announce' | 'db'>, guards: Record<string, SharedGuard>, log: Logger): void {
  const announce = database.announce;
  if (!announce) return;
  for (const [name, guard] of Object.entries(guards)) {
    guard.onOwnBan((ip, until) => {
      announce(database.db, BANS, [`${name} ${ip} ${until}`]).catch((err: Error) =>
        log.warn({ err, ip }, `Could not tell the other nodes that ${ip} is banned: ${err.message}`),
      );
    });
  }
}

/** Holds the bans other nodes announced (keys as announceBans writes them; undefined: none named). */
export function holdOtherNodesBans(keys: Iterable<string> | undefined, guards: Record<string, SharedGuard>, log: Logger): void {
  const now = Date.now();
  for (const key of keys ?? []) {
    const [name, ip, untilText] = key.split(' ');
    const guard = name ? guards[name] : undefined;
    const until = Number(untilText);
    if (!guard || !ip || !(until > now)) continue;
    guard.hold(ip, until);
    const untilIso = new Date(until).toISOString();
    log.info({ ip, guard: name, until: untilIso }, `${ip} banned by another node (${name}) until ${untilIso}: refused here too`);
  }
}
