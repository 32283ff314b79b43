// docs/examples/10_locks_queues.ts
import { Lock, Queue, Task, gather, get_event_loop, sleep, type Coroutine } from 'tulip-ts';

const loop = get_event_loop();
const lock = new Lock();
const log: string[] = [];

/** Holds the lock across a yield: nobody else gets in meanwhile, and it is released on every exit path. */
function* critical(name: string): Coroutine<void> {
  yield* lock.with(function* () {
    log.push(`${name} in`);
    yield* sleep(0.01);
    log.push(`${name} out`);
  });
}

/** A producer and two consumers around a bounded queue: put() waits while the queue is full. */
function* produce(queue: Queue<number | null>): Coroutine<void> {
  for (let i = 1; i <= 6; i++) yield* queue.put(i);
  for (let i = 0; i < 2; i++) yield* queue.put(null);   // one "no more" per consumer
}

function* consume(queue: Queue<number | null>): Coroutine<number> {
  let sum = 0;
  for (let item = yield* queue.get(); item !== null; item = yield* queue.get()) sum += item;
  return sum;
}

function* main(): Coroutine<void> {
  yield* gather(critical('a'), critical('b'));
  console.log(log.join(', '));                    // a in, a out, b in, b out
  const queue = new Queue<number | null>(2);
  const consumers = [new Task(consume(queue)), new Task(consume(queue))];
  yield* produce(queue);
  const sums = yield* gather(...consumers);
  console.log('total', sums[0] + sums[1]);        // 21, however the items were shared
}

loop.run_until_complete(main());
loop.close();
