// The `npm start` demo: a short tour of the loop, timers and tasks, printed as a timeline.
import {
  Future, Task, gather, get_event_loop, sleep, wait_for, TimeoutError, type Coroutine,
} from 'tulip-ts';

const loop = get_event_loop();
const t0 = loop.time();
const say = (...what: unknown[]): void => console.log(`${((loop.time() - t0) * 1000).toFixed(0).padStart(5)} ms `, ...what);

say(`tulip-ts: ${loop.constructor.name}, selector ${(loop as unknown as { _selector: object })._selector.constructor.name}`);

// 1. Callbacks: call_soon runs in FIFO order, timers in time order.
loop.call_later(0.2, say, 'call_later(0.2): a timer');
loop.call_later(0.1, say, 'call_later(0.1): an earlier timer');
loop.call_soon(say, 'call_soon: first');
loop.call_soon(say, 'call_soon: second');

// 2. A repeating timer, cancelled after three ticks.
let ticks = 0;
const ticker = loop.call_repeatedly(0.07, () => {
  say(`call_repeatedly: tick ${++ticks}`);
  if (ticks === 3) ticker.cancel();
});

// 3. Coroutines: generator functions driven by Tasks, yield* where Python wrote `yield from`.
function* fetch_value(name: string, seconds: number): Coroutine<string> {
  yield* sleep(seconds);
  return `${name} after ${seconds} s`;
}

function* main(): Coroutine<void> {
  const [a, b] = yield* gather(fetch_value('a', 0.15), fetch_value('b', 0.05));
  say('gather ->', [a, b]);

  // A future completed by a plain callback.
  const fut = new Future<number>();
  loop.call_later(0.05, () => fut.set_result(42));
  say('future ->', yield* fut);

  // A timeout cancels the slow task.
  try {
    yield* wait_for(fetch_value('slow', 10), 0.1);
  } catch (e) {
    if (e instanceof TimeoutError) say('wait_for -> TimeoutError; the slow task was cancelled');
    else throw e;
  }
}

loop.run_until_complete(new Task(main()));
say('done; closing the loop');
loop.close();
