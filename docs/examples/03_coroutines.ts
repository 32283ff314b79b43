// docs/examples/03_coroutines.ts
import { get_event_loop, sleep, type Coroutine } from 'tulip-ts';

function* add_slowly(a: number, b: number): Coroutine<number> {
  yield* sleep(0.1);               // wait for a coroutine
  return a + b;
}

function* main(): Coroutine<void> {
  const sum = yield* add_slowly(1, 2);          // typed: number
  console.log(sum);
}

const loop = get_event_loop();
loop.run_until_complete(main());
loop.close();
