// A worker thread for test/zlib.test.ts: uses ZlibStream in this thread's copy of the addon, leaves some
// streams open (their finalizers run when the thread's environment is torn down), says 'ready', and
// then either waits to be terminated or returns (workerData.data.exit).
import { parentPort, workerData } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { ZlibStream } from '../../src/zlib.js';

const open: ZlibStream[] = [];
const data = Buffer.alloc(50_000, 'tulip ');
for (let i = 0; i < 100; i++) {
  const z = new ZlibStream('gzip', { mem_level: 9 });
  const out = z.process(data);
  if (i % 3 === 0) {
    if (!gunzipSync(Buffer.concat([out, z.finish()])).equals(data)) throw new Error('round trip failed');
  } else {
    open.push(z);
  }
}
parentPort!.postMessage(`ready ${open.length}`);
if (!(workerData as { data: { exit: boolean } }).data.exit) setInterval(() => {}, 1000);
