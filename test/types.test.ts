// Compile-time type tests, proven by `tsc --noEmit -p tsconfig.json` (part of `npm test`): every
// `@ts-expect-error` below must be an error, or tsc fails on the unused directive. One trivial runtime
// test keeps uvu counting the file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Future, Task, TestLoop, gather, sleep, type Coroutine } from '../src/index.js';

function expectType<T>(_v: T): void {}

declare const fut: Future<number>;

// (1) `yield* fut` on a Future<number> is a number.
function* one(): Coroutine<number> {
  const v = yield* fut;
  expectType<number>(v);
  // @ts-expect-error -- v is a number, not a string
  const s: string = v;
  void s;
  return v;
}

// (2) `yield* coro()` is the coroutine's return type.
function* returns_string(): Coroutine<string> {
  yield;
  return 'x';
}
function* two(): Coroutine<string> {
  const s = yield* returns_string();
  expectType<string>(s);
  // @ts-expect-error -- s is a string, not a number
  const n: number = s;
  void n;
  return s;
}

// (3) `yield fut` without the star does not type-check where a Task takes the coroutine.
// TS reports it on the line of the argument (the generator), so the directive goes right above it.
function three(loop: TestLoop): void {
  // @ts-expect-error -- a Future is not a Suspend: write `yield* fut`
  new Task(function* () { yield fut; }(), { loop });
  // The same with the star is fine.
  new Task(function* () { yield* fut; }(), { loop });
  // Also through a yield* chain: the inner generator's yield type leaks into the outer one.
  function* inner() {
    yield fut;
    return 1;
  }
  // @ts-expect-error -- inner() yields a Future
  new Task(function* () { return yield* inner(); }(), { loop });
  // And run_until_complete rejects it too.
  // @ts-expect-error -- a Future is not a Suspend
  loop.run_until_complete(function* () { yield fut; }());
  // A Future is not a coroutine: a Task cannot wrap it.
  // @ts-expect-error -- Task() takes a coroutine object
  new Task(fut, { loop });
}

// (4) A bare `yield` is accepted (it gives up one turn).
function* four(): Coroutine<void> {
  yield;
  yield undefined;
}

// (5) gather(a, b) is a typed tuple.
function* five(loop: TestLoop): Coroutine<void> {
  const g = gather(one(), two(), { loop });
  expectType<Future<[number, string]>>(g);
  const [a, b] = yield* g;
  expectType<number>(a);
  expectType<string>(b);
  // @ts-expect-error -- the first element is a number
  const wrong: string = a;
  void wrong;
}

// (6) run_until_complete returns the typed result, for a coroutine and for a Task.
function six(loop: TestLoop): void {
  const r = loop.run_until_complete(two());
  expectType<string>(r);
  // @ts-expect-error -- r is a string
  const n: number = r;
  void n;
  const t = new Task(one(), { loop });
  expectType<Task<number>>(t);
  const r2 = loop.run_until_complete(t);
  expectType<number>(r2);
}

void three;
void four;
void five;
void six;

test('the typed coroutines run as typed', () => {
  const loop = new TestLoop();
  try {
    function* coro(): Coroutine<[number, string]> {
      const f = new Future<number>({ loop });
      loop.call_soon(() => f.set_result(41));
      const n = yield* f;
      const s = yield* sleep(1, 'one', { loop });
      return [n + 1, s];
    }
    const r = loop.run_until_complete(coro());
    expectType<[number, string]>(r);
    assert.equal(r, [42, 'one']);
  } finally {
    loop.close();
  }
});

test.run();
