// Real loops for tests that need several: each is closed after the test, whatever happened in it.
import { test } from 'uvu';
import { new_event_loop, type AbstractEventLoop, type Coroutine, type Future } from '../../src/index.js';

const loops: AbstractEventLoop[] = [];

/** A new loop, closed after the current test (register_loop_cleanup must have been called once). */
export function make_loop(): AbstractEventLoop {
  const loop = new_event_loop();
  loops.push(loop);
  return loop;
}

/** Closes every loop make_loop() gave out, after each test of the file's default suite. */
export function register_loop_cleanup(t: typeof test = test): void {
  t.after.each(() => {
    for (const loop of loops.splice(0)) loop.close();
  });
}

/** Runs `coro` on `loop`, failing (not hanging) after 20 s. */
export function run<T>(loop: AbstractEventLoop, coro: Coroutine<T> | Future<T>): T {
  return loop.run_until_complete(coro, 20);
}
