// docs/examples/04_tasks.ts
import { FIRST_COMPLETED, Task, get_event_loop, sleep, wait, type Coroutine } from 'tulip-ts';

function* worker(name: string, seconds: number): Coroutine<string> {
  try {
    yield* sleep(seconds);
    return name;
  } finally {
    console.log(name, 'cleans up');               // runs on cancellation too
  }
}

function* main(): Coroutine<void> {
  const tasks = [new Task(worker('fast', 0.1)), new Task(worker('slow', 10))];
  const [done, pending] = yield* wait(tasks, { return_when: FIRST_COMPLETED });
  for (const t of pending) t.cancel();           // throws CancelledError into 'slow' at its yield*
  yield* wait(pending);                          // let the cancelled one finish its cleanup
  console.log([...done].map((t) => t.result()));
}

const loop = get_event_loop();
loop.run_until_complete(main());
loop.close();
