// docs/examples/07_subprocess.ts
import { PIPE, create_subprocess_exec, get_event_loop, type Coroutine } from 'tulip-ts';

function* main(): Coroutine<void> {
  const loop = get_event_loop();
  const proc = yield* create_subprocess_exec(loop, 'wc', '-c', { stdin: PIPE, stdout: PIPE });
  const [out] = yield* proc.communicate(Buffer.from('hello, child\n'));
  console.log('wc says', out!.toString().trim(), '- exit code', yield* proc.wait());
}

const loop = get_event_loop();
loop.run_until_complete(main());
loop.close();
