// Run in a worker thread by events.test.ts: the default policy must not create a loop here.
import { parentPort } from 'node:worker_threads';
import { get_event_loop, new_event_loop, set_event_loop } from '../../src/index.js';

let message = 'created';
try {
  get_event_loop();
} catch (e) {
  message = String(e);
}
const loop = new_event_loop();
set_event_loop(loop);
const same = get_event_loop() === loop;
loop.close();
parentPort!.postMessage({ message, same });
