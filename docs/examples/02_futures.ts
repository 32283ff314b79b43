// docs/examples/02_futures.ts
import { Future, get_event_loop } from 'tulip-ts';

const loop = get_event_loop();
const fut = new Future<number>();
fut.add_done_callback((f) => console.log('done with', f.result()));
loop.call_later(0.1, () => fut.set_result(42));
console.log(loop.run_until_complete(fut));       // 42
loop.close();
