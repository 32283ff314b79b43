// docs/examples/06_pipes.ts
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Protocol, get_event_loop, os_pipe } from 'tulip-ts';

class Lines extends Protocol {
  override data_received(data: Buffer): void { process.stdout.write(data); }
  override connection_lost(): void { loop.stop(); }   // the child closed its stdout: EOF ends a pipe
}

const loop = get_event_loop();
const [r, w] = os_pipe();
spawn('echo', ['a line from a child process'], { stdio: ['ignore', w, 'inherit'] });
closeSync(w);                                         // the child has its own copy
loop.run_until_complete(loop.connect_read_pipe(() => new Lines(), r));
loop.run_forever();
loop.close();
