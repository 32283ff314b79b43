/**
 * HTTP errors (Tulip's `tulip/http/errors.py`). Each carries the status code a server answers it with, so
 * `ServerHttpProtocol` turns any of them into a proper error page: a malformed request is a 400, not a crash.
 * The client's own errors (a bad URL, a server gone without answering, too many redirects) are at the end.
 */
import { ConnectionResetError } from '../../src/errors.js';
import type { HttpResponse } from './client.js';

/** The base of every HTTP error; `code` is the response status a server sends for it. */
export class HttpException extends Error {
  override name = 'HttpException';
  code = 500;
  /** Extra response headers for the error page (e.g. `Allow` with a 405, `Location` with a redirect). */
  headers: Iterable<readonly [string, string]> = [];
}

export interface HttpErrorOptions {
  headers?: Iterable<readonly [string, string]>;
  message?: string;
}

/** Raise from a handler to answer with any status (Tulip's `HttpErrorException`, earlier `HttpStatusException`). */
export class HttpErrorException extends HttpException {
  override name = 'HttpErrorException';
  constructor(code: number, options: HttpErrorOptions = {}) {
    super(options.message ?? `HTTP ${code}`);
    this.code = code;
    if (options.headers) this.headers = options.headers;
  }
}
export { HttpErrorException as HttpStatusException };

/** The peer sent something that is not HTTP: answered with 400 Bad Request. */
export class BadRequestException extends HttpException {
  override name = 'BadRequestException';
  override code = 400;
}

/** The stream ended (or a body was malformed) before the message did. */
export class IncompleteRead extends BadRequestException {
  override name = 'IncompleteRead';
  constructor(message = 'incomplete HTTP message', readonly partial: Buffer = Buffer.alloc(0)) {
    super(message);
  }
}

/** A request line or status line that does not parse. */
export class BadStatusLine extends BadRequestException {
  override name = 'BadStatusLine';
  constructor(readonly line: string) {
    super(`bad status line: ${JSON.stringify(line.length > 100 ? line.slice(0, 100) + '…' : line)}`);
  }
}

/** A line, a header field or the header block is longer than the parser's limit. */
export class LineTooLong extends BadRequestException {
  override name = 'LineTooLong';
}

/** A header that is malformed or contradicts another (e.g. both Content-Length and Transfer-Encoding). */
export class InvalidHeader extends BadRequestException {
  override name = 'InvalidHeader';
  constructor(readonly header: string, detail = '') {
    super(`invalid HTTP header: ${header}${detail ? ` (${detail})` : ''}`);
  }
}

/** A body larger than the parser allows: answered with 413. */
export class PayloadTooLarge extends HttpException {
  override name = 'PayloadTooLarge';
  override code = 413;
}

// ---- the client's errors (aiohttp kept them here too) ------------------------------------------------------

/** A URL the client cannot fetch: unparsable, no host, or a scheme other than http and https. */
export class InvalidURL extends RangeError {
  override name = 'InvalidURL';
  constructor(readonly url: string, reason: string) {
    super(`invalid URL ${JSON.stringify(url.length > 200 ? url.slice(0, 200) + '…' : url)}: ${reason}`);
  }
}

/**
 * The server closed the connection without answering (Python's http.client.RemoteDisconnected). On a
 * reused keep-alive connection of a Session this is the stale case, retried once for idempotent methods.
 */
export class RemoteDisconnected extends ConnectionResetError {
  override name = 'RemoteDisconnected';
  constructor(readonly url: string, override readonly cause: unknown) {
    super(null, `Remote end closed connection without response (${url})`);
  }
}

/** More redirects than `max_redirects`: `response` is the last 3xx (closed), `history` the ones before. */
export class TooManyRedirects extends Error {
  override name = 'TooManyRedirects';
  constructor(readonly response: HttpResponse, readonly history: readonly HttpResponse[], max_redirects: number) {
    super(`too many redirects: more than ${max_redirects}, the last one from ${response.url} to ${String(response.headers.get('location'))}`);
  }
}

/** The proxy refused to open a tunnel (its answer to CONNECT was not 2xx), e.g. 407 when it wants
 * credentials (aiohttp's ClientHttpProxyError). `status` and `reason` are the proxy's. */
export class ProxyError extends Error {
  override name = 'ProxyError';
  constructor(readonly status: number, readonly reason: string, readonly proxy: string) {
    super(`the proxy ${proxy} answered ${status} ${reason}`.trimEnd());
  }
}
