// Lists that grow with the site (100,000 extensions) are read a page at a time: limit and
// offset cut the list after filtering, and the answer's total says how many matched.
import Type, { type Static } from 'typebox';

export const Page = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'At most this many (default: all)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'Skip this many first' })),
  q: Type.Optional(Type.String({ maxLength: 100, description: 'Only those whose number starts with it, or whose name contains it' })),
});

export function page<T>(list: T[], p: Static<typeof Page>): T[] {
  const offset = p.offset ?? 0;
  return p.limit === undefined ? (offset ? list.slice(offset) : list) : list.slice(offset, offset + p.limit);
}
