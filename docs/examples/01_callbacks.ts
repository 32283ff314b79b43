// docs/examples/01_callbacks.ts
import { get_event_loop } from 'tulip-ts';

const loop = get_event_loop();
loop.call_soon(console.log, 'first');            // FIFO: first, then second
loop.call_soon(console.log, 'second');
loop.call_later(0.2, console.log, 'a fifth of a second later');
loop.call_later(0.3, () => loop.stop());
loop.run_forever();                              // blocks until stop()
loop.close();
