// Run in a worker thread by unix_signals.test.ts: add_signal_handler must refuse (main thread only).
import { parentPort } from 'node:worker_threads';
import { SIGUSR2, new_event_loop } from '../../src/index.js';

const loop = new_event_loop();
let message = 'accepted';
try {
  loop.add_signal_handler(SIGUSR2, () => {});
} catch (e) {
  message = `${(e as Error).name}: ${(e as Error).message}`;
}
loop.close();
parentPort!.postMessage(message);
