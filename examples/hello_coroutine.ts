// Print 'Hello World' every two seconds, using a coroutine (Tulip's examples/hello_coroutine.py).
//
//   npx tsx examples/hello_coroutine.ts              # forever; Ctrl-C to stop
//   npx tsx examples/hello_coroutine.ts 3 0.1        # three times, 0.1 s apart
import { get_event_loop, sleep, type Coroutine } from 'tulip-ts';

const count = Number(process.argv[2] ?? Infinity);
const interval = Number(process.argv[3] ?? 2);

function* greet_every_two_seconds(): Coroutine<void> {
  for (let i = 0; i < count; i++) {
    if (i > 0) yield* sleep(interval);
    console.log('Hello World');
  }
}

const loop = get_event_loop();
loop.run_until_complete(greet_every_two_seconds());
loop.close();
