// docs/examples/07_signals.ts
import { SIGINT, SIGTERM, get_event_loop } from 'tulip-ts';

const loop = get_event_loop();
for (const sig of [SIGINT, SIGTERM]) {
  loop.add_signal_handler(sig, () => {
    console.log(`signal ${sig}: stopping`);
    loop.stop();
  });
}
loop.call_later(0.1, () => process.kill(process.pid, 'SIGINT'));   // as if Ctrl-C were pressed
loop.run_forever();                  // a signal ends even a wait in the selector
loop.remove_signal_handler(SIGINT);  // Node's own handling of SIGINT is back
loop.remove_signal_handler(SIGTERM);
loop.close();
