// Shared by the micro-benchmarks: each figure is the best of REPEAT runs, the one least disturbed by
// whatever else the machine (and its other core) was doing.
export const REPEAT = 5;

export function best(fn: () => number): number {
  let min = Infinity;
  for (let i = 0; i < REPEAT; i++) min = Math.min(min, fn());
  return min;
}

export async function best_async(fn: () => Promise<number>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < REPEAT; i++) min = Math.min(min, await fn());
  return min;
}
