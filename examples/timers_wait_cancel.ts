// Timers, wait() and cancellation in one small program.
//
// Three workers sleep for different times; wait() returns as soon as the first one is done, the others
// are cancelled, and their `finally` blocks run — even one that itself waits (yield*) while cleaning up.
//
//   npx tsx examples/timers_wait_cancel.ts
import { CancelledError, FIRST_COMPLETED, Task, new_event_loop, sleep, wait, type Coroutine } from 'tulip-ts';

const loop = new_event_loop();
const t0 = loop.time();
const stamp = (): string => `[${(loop.time() - t0).toFixed(2)} s]`;

function* worker(name: string, seconds: number): Coroutine<string> {
  console.log(stamp(), `${name}: working for ${seconds} s`);
  try {
    yield* sleep(seconds, undefined, { loop });
    console.log(stamp(), `${name}: finished`);
    return `${name}'s result`;
  } catch (e) {
    if (e instanceof CancelledError) console.log(stamp(), `${name}: cancelled while sleeping`);
    throw e;
  } finally {
    yield* sleep(0.01, undefined, { loop }); // cleanup may wait, too
    console.log(stamp(), `${name}: cleaned up`);
  }
}

function* main(): Coroutine<void> {
  loop.call_later(0.05, () => console.log(stamp(), 'a plain timer callback fires'));
  const tasks = [new Task(worker('fast', 0.1), { loop }), new Task(worker('slow', 0.3), { loop }), new Task(worker('slowest', 5), { loop })];
  const [done, pending] = yield* wait(tasks, { return_when: FIRST_COMPLETED, loop });
  for (const t of done) console.log(stamp(), 'done:', t.result());
  for (const t of pending) t.cancel();
  const [cancelled] = yield* wait(pending, { loop });
  console.log(stamp(), `${[...cancelled].filter((t) => t.cancelled()).length} tasks cancelled`);
}

loop.run_until_complete(main());
loop.close();
