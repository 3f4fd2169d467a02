/** xorshift32: a repeatable stream in [0, 1) for fuzz tests, from a fixed seed. */
export function seededRandom(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}
