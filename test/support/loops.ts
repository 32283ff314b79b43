// Loops for tests, each closed after its test whatever happened in it: real ones for tests that need
// several, and a virtual-time TestLoop per test for the files written on one.
import { test } from 'uvu';
import { TestLoop, new_event_loop, set_event_loop, type AbstractEventLoop, type Coroutine, type Future } from '../../src/index.js';

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

/**
 * A fresh virtual-time TestLoop for every test of suite `t`, handed to `use` (the file keeps it in a variable
 * of its own), made the current event loop if `current`, and closed after the test (with no current loop left).
 */
export function test_loop_each(t: typeof test, use: (loop: TestLoop) => void, { current = false } = {}): void {
  let loop: TestLoop | null = null;
  t.before.each(() => {
    loop = new TestLoop();
    if (current) set_event_loop(loop);
    use(loop);
  });
  t.after.each(() => {
    set_event_loop(null);
    loop!.close();
  });
}
