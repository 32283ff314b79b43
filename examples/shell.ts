// create_subprocess_exec() and create_subprocess_shell() (asyncio 3.4.3's examples/shell.py).
//
//   npx tsx examples/shell.ts
//
// cat: writes to a child's stdin and reads its stdout with communicate(); ls: reads its output line by
// line; test_call: a child that outlives its timeout is killed.
import {
  PIPE, ProcessLookupError, SIGINT, TimeoutError, create_subprocess_exec, create_subprocess_shell,
  get_event_loop, wait_for, type AbstractEventLoop, type Coroutine,
} from 'tulip-ts';

function* cat(loop: AbstractEventLoop): Coroutine<void> {
  const proc = yield* create_subprocess_shell(loop, 'cat', { stdin: PIPE, stdout: PIPE });
  console.log(`pid: ${proc.pid}`);

  const message = 'Hello World!';
  console.log(`cat write: ${JSON.stringify(message)}`);

  const [stdout] = yield* proc.communicate(Buffer.from(message, 'ascii'));
  console.log(`cat read: ${JSON.stringify(stdout!.toString('ascii'))}`);

  const exitcode = yield* proc.wait();
  console.log(`(exit code ${exitcode})`);
}

function* ls(loop: AbstractEventLoop): Coroutine<void> {
  const proc = yield* create_subprocess_exec(loop, 'ls', { stdout: PIPE });
  for (;;) {
    const line = yield* proc.stdout!.readline();
    if (line.length === 0) break;
    console.log('ls>>', line.toString('ascii').trimEnd());
  }
  try {
    proc.send_signal(SIGINT);
  } catch (e) {
    if (!(e instanceof ProcessLookupError)) throw e;
  }
  yield* proc.wait(); // (not in the original: reap it before the loop closes)
}

function* test_call(loop: AbstractEventLoop, args: string[], timeout: number | null = null): Coroutine<void> {
  const proc = yield* create_subprocess_exec(loop, args[0]!, ...args.slice(1));
  try {
    const exitcode = yield* wait_for(proc.wait(), timeout);
    console.log(`${args.join(' ')}: exit code ${exitcode}`);
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    console.log(`timeout! (${timeout!.toFixed(1)} sec)`);
    proc.kill();
    yield* proc.wait();
  }
}

const loop = get_event_loop();
loop.run_until_complete(cat(loop));
loop.run_until_complete(ls(loop));
loop.run_until_complete(test_call(loop, ['bash', '-c', 'sleep 3'], 1.0));
loop.close();
