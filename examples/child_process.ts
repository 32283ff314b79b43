// Asynchronous interaction with a child process over pipes it was started with (Tulip's
// examples/child_process.py, as of asyncio 3.4.3).
//
//   npx tsx examples/child_process.ts
//
// As the original, this attaches pipes of a process started by someone else (there: subprocess.Popen;
// here: Node's child_process.spawn, given ends of os_pipe() pairs) and uses the low-level
// connect_write_pipe / connect_read_pipe. See shell.ts and subprocess_shell.ts for the higher level.
// The child (node instead of python) evaluates each expression it reads and prints the result; an error
// goes to its stderr.
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import {
  FIRST_COMPLETED, FlowControlProtocol, StreamReader, StreamReaderProtocol, StreamWriter, Task, get_event_loop,
  os_pipe, wait, type AbstractEventLoop, type Coroutine, type Future, type ReadTransport, type WriteTransport,
} from 'tulip-ts';

// Wrap a writable pipe in a StreamWriter. (The original returns the bare transport; a writer adds
// drain(), whose flow control the FlowControlProtocol tracks.)
function* connect_write_pipe(loop: AbstractEventLoop, fd: number): Coroutine<StreamWriter<WriteTransport>> {
  const protocol = new FlowControlProtocol({ loop });
  const [transport] = yield* loop.connect_write_pipe(() => protocol, fd);
  return new StreamWriter(transport, protocol, null, loop);
}

// Wrap a readable pipe in a stream.
function* connect_read_pipe(loop: AbstractEventLoop, fd: number): Coroutine<[StreamReader, ReadTransport]> {
  const reader = new StreamReader(undefined, { loop });
  const [transport] = yield* loop.connect_read_pipe(() => new StreamReaderProtocol(reader, null, { loop }), fd);
  return [reader, transport];
}

function* main(loop: AbstractEventLoop): Coroutine<void> {
  // program which prints evaluation of each expression from stdin
  const code = `
    const fs = require('fs');
    const buf = Buffer.alloc(1024);
    for (;;) {
      const n = fs.readSync(0, buf, 0, 1024, null);
      if (n === 0) break;
      const s = buf.subarray(0, n).toString('ascii');
      let r;
      try { r = (0, eval)(s); } catch (e) { fs.writeSync(2, String(e) + '\\n'); continue; }
      if (!Number.isFinite(r) && typeof r === 'number') { fs.writeSync(2, 'ZeroDivisionError: division by zero\\n'); continue; }
      fs.writeSync(1, JSON.stringify(r) + '\\n');
    }`;

  // commands to send to input
  const commands = [
    Buffer.from('1+1\n'), Buffer.from('2**16\n'), Buffer.from('1/3\n'), Buffer.from("'x'.repeat(50)"), Buffer.from('1/0\n'),
  ][Symbol.iterator]();

  // start subprocess and wrap stdin, stdout, stderr
  const [in_r, in_w] = os_pipe();
  const [out_r, out_w] = os_pipe();
  const [err_r, err_w] = os_pipe();
  const child = spawn(process.execPath, ['-e', code], { stdio: [in_r, out_w, err_w] });
  for (const fd of [in_r, out_w, err_w]) closeSync(fd); // the child has its own copies
  child.unref(); // Node's loop does not turn inside ours; let nothing of Node's wait for it

  const stdin = yield* connect_write_pipe(loop, in_w);
  const [stdout, stdout_transport] = yield* connect_read_pipe(loop, out_r);
  const [stderr, stderr_transport] = yield* connect_read_pipe(loop, err_r);

  // interact with subprocess
  const name = new Map<StreamReader, string>([[stdout, 'OUT'], [stderr, 'ERR']]);
  const registered = new Map<Future<Buffer>, StreamReader>([
    [new Task(stderr.readline()), stderr],
    [new Task(stdout.readline()), stdout],
  ]);
  while (registered.size > 0) {
    // write command
    const cmd = commands.next();
    if (cmd.done) {
      stdin.close();
    } else {
      console.log('>>>', cmd.value.toString('ascii').trimEnd());
      stdin.write(cmd.value);
    }

    // get and print lines from stdout, stderr
    let timeout: number | null = null;
    while (registered.size > 0) {
      const [done] = yield* wait(registered.keys(), { timeout, return_when: FIRST_COMPLETED });
      if (done.size === 0) break;
      for (const f of done) {
        const stream = registered.get(f)!;
        registered.delete(f);
        const res = f.result();
        console.log(name.get(stream), res.toString('ascii').trimEnd());
        if (res.length > 0) registered.set(new Task(stream.readline()), stream);
      }
      timeout = 0.0;
    }
  }

  stdout_transport.close();
  stderr_transport.close();
}

const loop = get_event_loop();
try {
  loop.run_until_complete(main(loop));
} finally {
  loop.close();
}
