/**
 * A static file server (Tulip's examples/srv.py) on http.ServerHttpProtocol: files under a root directory,
 * HTML listings of directories (or their index.html), content types by extension, gzip/deflate with the
 * response writer's compression filter when the client accepts it, GET and HEAD, TLS with --ssl.
 *
 *   npx tsx examples/srv.ts [--root DIR] [--host 127.0.0.1] [--port 8080] [--ssl --sslcert FILE --sslkey FILE] [--quiet]
 *
 * `--host` may carry the port ("127.0.0.1:8080"), as in srv.py. With `--port 0` the system picks a free port;
 * the first line printed is "serving on HOST:PORT (pid PID)" either way. Unless --quiet, each request is
 * printed.
 *
 * Safe paths: the request target is %-decoded once and split into segments; a `..` segment (also when
 * written `%2e%2e` or `..%2f`) and a NUL byte are refused with 403, names starting with a dot are not
 * served (404, as srv.py refused any "/." in a path), and the path is resolved with realpath() and must
 * still lie under the root's own realpath, so a symlink that leads outside it is a 403 as well. Only
 * regular files are opened (non-blocking, so a FIFO cannot hang the server); devices and sockets are 403.
 *
 * Large files go out in 64 KiB pieces; between pieces `yield* this.drain()` waits while the transport's
 * write buffer is above its high-water mark, so a slow client holds at most that much of a file in memory.
 * A client that goes away cancels the handler at that yield, and the `finally` closes the file.
 *
 * Byte ranges (RFC 9110 14): a file answers one `Range: bytes=…` (first-last, first-, or -suffix) with a
 * 206 and its Content-Range, uncompressed; a range past the end gets a 416 that names the size. A request
 * for several ranges, or with an `If-Range` that is not the file's Last-Modified, gets the whole file (a
 * server may always answer that way). This is what lets a browser seek in a video and `curl -C -` resume.
 *
 * Differences from srv.py: keep-alive instead of closing after each response, Content-Length for files
 * instead of chunked, 405 for methods other than GET and HEAD, 301 (not 302) to add a directory's slash,
 * Last-Modified and byte ranges on files.
 */
import { closeSync, constants as fs, fstatSync, openSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROTOCOL_TLS_SERVER, SSLContext, get_event_loop, http, type Coroutine } from 'tulip-ts';
import { ADDRESS_OPTIONS, host_and_port, parse_command_line, usage_error } from './args.js';

const CHUNK = 64 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
  '.py': 'text/plain; charset=utf-8', '.c': 'text/plain; charset=utf-8', '.h': 'text/plain; charset=utf-8',
  '.json': 'application/json', '.xml': 'application/xml', '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.ico': 'image/vnd.microsoft.icon', '.pdf': 'application/pdf', '.wasm': 'application/wasm',
  '.zip': 'application/zip', '.gz': 'application/gzip', '.tar': 'application/x-tar', '.mp4': 'video/mp4',
};

export function content_type(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** Types worth compressing: text, and the structured text formats. Images and archives are compressed already. */
function compressible(type: string): boolean {
  return /^text\/|^application\/(json|xml|javascript)|^image\/svg\+xml/.test(type);
}

/** A byte range of a file, both ends included (RFC 9110 14.1.2). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one byte range a Range header asks of a file of `size` bytes: null to send the whole file (no header,
 * another unit, several ranges, or a malformed one: RFC 9110 lets a server ignore all of these), or
 * 'unsatisfiable' when the range starts past the end, which is a 416.
 */
export function parse_range(header: string | null, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === null) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // bytes=-N: the last N bytes (all of them if the file is shorter).
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return null; // not a valid range: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

/**
 * The coding to answer with, from Accept-Encoding: gzip, else deflate (srv.py preferred deflate; every
 * client that asks for deflate also takes gzip, whose framing is unambiguous). `;q=0` refuses a coding.
 */
export function choose_coding(accept: string | null): 'gzip' | 'deflate' | null {
  if (accept === null) return null;
  const q = new Map<string, number>();
  for (const item of accept.toLowerCase().split(',')) {
    const [name = '', ...params] = item.split(';').map((s) => s.trim());
    const qp = params.find((p) => p.startsWith('q='));
    const value = qp === undefined ? 1 : Number(qp.slice(2));
    if (name !== '') q.set(name, Number.isFinite(value) ? value : 0);
  }
  const ok = (coding: string): boolean => (q.get(coding) ?? q.get('*') ?? 0) > 0;
  return ok('gzip') ? 'gzip' : ok('deflate') ? 'deflate' : null;
}

export type Resolved =
  | { kind: 'file'; path: string }
  | { kind: 'dir'; path: string; url_path: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'refused'; status: 400 | 403 | 404; why: string };

const refused = (status: 400 | 403 | 404, why: string): Resolved => ({ kind: 'refused', status, why });

/**
 * Maps a request target onto the file system under `root` (which must be a realpath), refusing anything
 * that could lead outside it. Pure apart from realpath()/stat(): the tests call it directly too.
 */
export function resolve_target(root: string, target: string): Resolved {
  let path = target;
  // The absolute form ("GET http://host/a HTTP/1.1", which proxies send) names the same path.
  const absolute = /^https?:\/\/[^/?#]*/i.exec(path);
  if (absolute) path = path.slice(absolute[0].length) || '/';
  const end = path.search(/[?#]/);
  if (end >= 0) path = path.slice(0, end);
  if (!path.startsWith('/')) return refused(400, 'the request target is not a path');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path); // once: "%252e" stays the name "%2e", which is harmless
  } catch {
    return refused(400, 'malformed %-escape or UTF-8');
  }
  if (decoded.includes('\0')) return refused(403, 'NUL byte in the path');
  // Split after decoding, so an encoded slash ("..%2f") cannot hide a segment.
  const parts: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return refused(403, '".." in the path');
    if (segment.startsWith('.')) return refused(404, 'hidden name');
    parts.push(segment);
  }
  const real = real_path_under(root, join(root, ...parts));
  if (typeof real !== 'string') return real;
  let is_dir: boolean;
  try {
    is_dir = statSync(real).isDirectory();
  } catch {
    return refused(404, 'vanished');
  }
  if (!is_dir) return path.endsWith('/') ? refused(404, 'not a directory') : { kind: 'file', path: real };
  if (!path.endsWith('/')) return { kind: 'redirect', location: path + '/' };
  return { kind: 'dir', path: real, url_path: '/' + parts.map((p) => p + '/').join('') };
}

/** realpath(`path`), if it exists and lies under `root`; else why not. */
function real_path_under(root: string, path: string): string | Resolved {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'ELOOP' ? refused(403, `cannot resolve (${code})`) : refused(404, 'no such file');
  }
  // A symlink inside the root may point anywhere: what counts is where the path really leads.
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) return refused(403, 'leads outside the root');
  return real;
}

/** The directory's index.html, when it is a regular file under the root. */
function index_file(root: string, dir: string): string | null {
  const real = real_path_under(root, join(dir, 'index.html'));
  try {
    return typeof real === 'string' && statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

function escape_html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The HTML listing of a directory: subdirectories first (with a slash), then files; no hidden names. */
export function listing(dir: string, url_path: string): Buffer {
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => {
      let is_dir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          is_dir = statSync(join(dir, e.name)).isDirectory();
        } catch {
          // a dangling link: listed as a file, which will be a 404
        }
      }
      return { name: e.name, is_dir };
    })
    .sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const title = escape_html(`Index of ${url_path}`);
  const items = entries.map(({ name, is_dir }) => {
    const shown = is_dir ? `${name}/` : name;
    return `<li><a href="${escape_html(encodeURIComponent(name))}${is_dir ? '/' : ''}">${escape_html(shown)}</a></li>`;
  });
  if (url_path !== '/') items.unshift('<li><a href="../">../</a></li>');
  return Buffer.from(
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n<ul>\n${items.join('\n')}\n</ul></body></html>\n`,
  );
}

export interface StaticOptions extends http.ServerHttpOptions {
  /** The directory served (resolved with realpath() when the protocol is made: every check compares with that). */
  root: string;
  /** Print each request (srv.py printed method, path and version). */
  verbose?: boolean;
}

/** srv.py's HttpServer: serves the files under `root`. */
export class StaticFileServer extends http.ServerHttpProtocol {
  readonly root: string;
  readonly verbose: boolean;

  constructor(options: StaticOptions) {
    super(options);
    this.root = realpathSync(options.root);
    this.verbose = options.verbose ?? false;
  }

  override *handle_request(message: http.RawRequestMessage, _payload: http.Payload): Coroutine<void> {
    if (this.verbose) console.log(`method = ${message.method}; path = ${message.path}; version = ${message.version.join('.')}`);
    if (message.method !== 'GET' && message.method !== 'HEAD') {
      throw new http.HttpErrorException(405, { headers: [['Allow', 'GET, HEAD']] });
    }
    const where = resolve_target(this.root, message.path);
    switch (where.kind) {
      case 'refused':
        if (this.verbose) console.log(`refused (${where.status}): ${where.why}`);
        throw new http.HttpErrorException(where.status);
      case 'redirect':
        throw new http.HttpErrorException(301, { headers: [['Location', where.location]] });
      case 'dir': {
        const index = index_file(this.root, where.path);
        if (index !== null) return yield* this.send_file(message, index);
        let page: Buffer;
        try {
          page = listing(where.path, where.url_path);
        } catch {
          throw new http.HttpErrorException(403); // not readable by us
        }
        return this.send_bytes(message, page, 'text/html; charset=utf-8');
      }
      case 'file':
        return yield* this.send_file(message, where.path);
    }
  }

  /**
   * A response for `message` (its version, its keep-alive) with `headers`, compressed as the client asked
   * if `type` suits and the answer is the whole entity (a 200: a range is of the bytes as stored).
   */
  private start_response(message: http.RawRequestMessage, type: string, length: number, status = 200, headers: Array<[string, string]> = []): http.Response {
    // head_only: a HEAD gets this same head, and whatever is written of the body is dropped.
    const head_only = message.method === 'HEAD';
    const response = new http.Response(this.transport!, status, { http_version: message.version, close: message.should_close, head_only });
    response.add_header('Content-Type', type);
    response.add_headers(...headers);
    const coding = head_only || status !== 200 || !compressible(type) ? null : choose_coding(message.headers.get('accept-encoding') ?? null);
    if (compressible(type)) response.add_header('Vary', 'Accept-Encoding');
    if (coding !== null) {
      // The compressed length is not known in advance: chunked on HTTP/1.1, until close on 1.0.
      response.add_header('Content-Encoding', coding);
      response.add_compression_filter(coding);
    } else {
      response.add_header('Content-Length', String(length));
    }
    response.send_headers();
    return response;
  }

  private send_bytes(message: http.RawRequestMessage, body: Buffer, type: string): void {
    const response = this.start_response(message, type, body.length);
    response.write(body);
    response.write_eof();
  }

  private *send_file(message: http.RawRequestMessage, path: string): Coroutine<void> {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the path was resolved already.
      fd = openSync(path, fs.O_RDONLY | fs.O_NONBLOCK | fs.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new http.HttpErrorException(code === 'ENOENT' ? 404 : 403);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new http.HttpErrorException(403);
      const modified = new Date(stat.mtimeMs).toUTCString();
      // If-Range: the range holds only for the version the client has; otherwise it gets the whole file.
      const if_range = message.headers.get('if-range') ?? null;
      const range = if_range === null || if_range === modified ? parse_range(message.headers.get('range') ?? null, stat.size) : null;
      if (range === 'unsatisfiable') throw new http.HttpErrorException(416, { headers: [['Content-Range', `bytes */${stat.size}`]] });
      const headers: Array<[string, string]> = [['Last-Modified', modified], ['Accept-Ranges', 'bytes']];
      if (range !== null) headers.push(['Content-Range', `bytes ${range.start}-${range.end}/${stat.size}`]);
      const start = range?.start ?? 0;
      const length = range === null ? stat.size : range.end - range.start + 1;
      const response = this.start_response(message, content_type(path), length, range === null ? 200 : 206, headers);
      // The writer would drop the body of a HEAD anyway: this saves reading the file for nothing.
      if (message.method !== 'HEAD') {
        let left = length;
        while (left > 0) {
          // A fresh buffer per piece: the writer and the transport may hold on to it.
          const piece = Buffer.allocUnsafe(Math.min(CHUNK, left));
          const n = readSync(fd, piece, 0, piece.length, start + length - left);
          if (n === 0) {
            // The file shrank under us: what was promised cannot be sent; end the connection instead.
            this.transport?.close();
            return;
          }
          response.write(n === piece.length ? piece : piece.subarray(0, n));
          left -= n;
          yield* this.drain();
        }
      }
      response.write_eof();
    } finally {
      closeSync(fd);
    }
  }
}

// ---- the program ----

const USAGE = 'usage: srv.ts [--root DIR] [--host HOST[:PORT]] [--port PORT] [--ssl --sslcert FILE --sslkey FILE] [--quiet]';

interface Args {
  root: string;
  host: string;
  port: number;
  ssl: SSLContext | null;
  quiet: boolean;
}

/** srv.py's arguments, plus --root and --quiet. Exits with status 2 and the usage on a bad command line. */
function parse_args(argv: string[]): Args {
  const { values } = parse_command_line(USAGE, {
    args: argv,
    options: {
      root: { type: 'string', default: process.cwd() },
      ...ADDRESS_OPTIONS,
      ssl: { type: 'boolean', default: false },
      sslcert: { type: 'string' },
      sslkey: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const [host, port] = host_and_port(USAGE, values.host, values.port);
  let ssl: SSLContext | null = null;
  if (values.ssl) {
    const cert = values.sslcert;
    if (cert === undefined) usage_error(USAGE, '--ssl needs --sslcert (and --sslkey, unless the key is in the same file)');
    ssl = new SSLContext(PROTOCOL_TLS_SERVER);
    ssl.load_cert_chain(cert, values.sslkey ?? cert);
  }
  return { root: values.root, host, port, ssl, quiet: values.quiet };
}

function main(): void {
  const args = parse_args(process.argv.slice(2));
  try {
    if (!statSync(args.root).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    console.error(`--root ${args.root}: ${(e as Error).message}`);
    process.exit(2);
  }
  const loop = get_event_loop();
  const sockets = loop.run_until_complete(
    loop.start_serving(() => new StaticFileServer({ root: args.root, verbose: !args.quiet }), args.host, args.port, { ssl: args.ssl }),
  );
  const [host, port] = sockets[0]!.getsockname() as [string, number];
  console.log(`serving on ${host}:${port} (pid ${process.pid})`);
  loop.run_forever();
}

// Run as a program, not when mpsrv.ts imports the server class.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
