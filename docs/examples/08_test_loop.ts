// docs/examples/08_test_loop.ts
import { TestLoop, sleep } from 'tulip-ts';

const loop = new TestLoop();
loop.run_until_complete(sleep(3600, undefined, { loop }));   // returns at once
console.log(loop.time());                                     // 3600
loop.close();
