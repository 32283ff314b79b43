// Garbage collection on demand, for the tests of what is reported when something is collected.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** global.gc when node runs with --expose-gc (tools/run-tests.ts does); otherwise enabled through V8 flags. */
export function get_gc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Collects until `done()` holds (finalizers run from Node's loop, so yield to it between tries). */
export async function collect_until(done: () => boolean, tries = 10): Promise<void> {
  const gc = get_gc();
  for (let i = 0; i < tries && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}
