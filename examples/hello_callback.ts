// Print 'Hello World' every two seconds, using a callback (Tulip's examples/hello_callback.py).
//
//   npx tsx examples/hello_callback.ts               # forever; Ctrl-C to stop
//   npx tsx examples/hello_callback.ts 3 0.1         # three times, 0.1 s apart
import { get_event_loop, type AbstractEventLoop } from 'tulip-ts';

const count = Number(process.argv[2] ?? Infinity);
const interval = Number(process.argv[3] ?? 2);
let printed = 0;

function print_and_repeat(loop: AbstractEventLoop): void {
  console.log('Hello World');
  if (++printed >= count) loop.stop();
  else loop.call_later(interval, print_and_repeat, loop);
}

const loop = get_event_loop();
print_and_repeat(loop);
loop.run_forever();
loop.close();
