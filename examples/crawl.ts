// Crawl every page under a root URL (Tulip's examples/crawl.py).
//
//   npx tsx examples/crawl.ts http://127.0.0.1:8080/ [--max-tasks 100]
//
// Each URL under the root is fetched once; links (href=...) in HTML pages are followed. At most --max-tasks
// fetches run at a time, bounded by a Semaphore as in Tulip. The fetches share one http.Session, so
// keep-alive connections are reused. Ctrl-C (SIGINT) stops early; either way the summary is printed:
//
//   todo: 0 / busy: 0 / done: 12 ; ok: 11 / tasks: 0 / max concurrent fetches: 4 / connections: 5
//
// Where Tulip polled every second until nothing was busy, the crawler here wakes when its last task ends.
import { Event, SIGINT, Semaphore, Task, get_event_loop, http, type Coroutine } from 'tulip-ts';
import { option } from './args.js';

class Crawler {
  readonly todo = new Set<string>();
  readonly busy = new Set<string>();
  readonly done = new Map<string, boolean>();
  readonly tasks = new Set<Task<void>>();
  readonly sem: Semaphore;
  readonly session = new http.Session();
  max_busy = 0;
  private readonly finished = new Event();
  /** Tasks adding URLs (each may wait on the semaphore): the crawl is over when none are left either. */
  private adding = 0;

  constructor(readonly rooturl: string, max_tasks = 100) {
    this.sem = new Semaphore(max_tasks);
  }

  *run(): Coroutine<void> {
    this.addurls([[this.rooturl, this.rooturl]]); // set initial work
    yield* this.finished.wait();
    this.session.close();
  }

  private check_finished(): void {
    if (this.adding === 0 && this.tasks.size === 0) this.finished.set();
  }

  addurls(urls: Array<[string, string]>): void {
    this.adding++;
    const task = new Task(this._addurls(urls));
    task.add_done_callback(() => {
      this.adding--;
      this.check_finished();
    });
  }

  private *_addurls(urls: Array<[string, string]>): Coroutine<void> {
    for (const [link, parenturl] of urls) {
      let url: string;
      try {
        const u = new URL(link, parenturl);
        u.hash = '';
        url = u.href;
      } catch {
        continue; // not a URL
      }
      if (url.startsWith(this.rooturl) && !this.busy.has(url) && !this.done.has(url) && !this.todo.has(url)) {
        this.todo.add(url);
        yield* this.sem.acquire();
        const task = new Task(this.process(url));
        task.add_done_callback(() => this.sem.release());
        task.add_done_callback(() => {
          this.tasks.delete(task);
          this.check_finished();
        });
        this.tasks.add(task);
      }
    }
  }

  *process(url: string): Coroutine<void> {
    console.log('processing:', url);
    this.todo.delete(url);
    this.busy.add(url);
    this.max_busy = Math.max(this.max_busy, this.busy.size);
    try {
      const resp = yield* http.request('GET', url, { session: this.session });
      if (resp.status === 200 && resp.get_content_type() === 'text/html') {
        const data = yield* resp.text();
        const urls = [...data.matchAll(/href=["']?([^\s"'<>]+)/gi)].map((m) => m[1]!);
        this.addurls(urls.map((u) => [u, url]));
      }
      resp.close();
      this.done.set(url, resp.status === 200);
    } catch (e) {
      console.log('...', url, 'has error', JSON.stringify(String((e as Error).message)));
      this.done.set(url, false);
    }
    this.busy.delete(url);
    console.log(this.done.size, 'completed tasks,', this.tasks.size, 'still pending, todo', this.todo.size);
  }
}

const root = process.argv[2];
const max_tasks = Number(option('max-tasks', '100'));
if (root === undefined || root.startsWith('--') || !Number.isSafeInteger(max_tasks) || max_tasks < 1) {
  console.error('usage: crawl.ts ROOT_URL [--max-tasks N]');
  process.exit(2);
}

const loop = get_event_loop();
const c = new Crawler(root, max_tasks);
const crawl = new Task(c.run());
crawl.add_done_callback(() => loop.stop());
loop.add_signal_handler(SIGINT, () => loop.stop());
loop.run_forever();
loop.remove_signal_handler(SIGINT);
if (crawl.done() && !crawl.cancelled() && crawl.exception() !== null) console.error('crawl failed:', crawl.exception());
console.log('todo:', c.todo.size);
console.log('busy:', c.busy.size);
console.log('done:', c.done.size, '; ok:', [...c.done.values()].filter(Boolean).length);
console.log('tasks:', c.tasks.size);
console.log('max concurrent fetches:', c.max_busy);
console.log('connections:', c.session.connections_made);
c.session.close();
loop.close();
