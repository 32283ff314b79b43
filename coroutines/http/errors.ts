/**
 * HTTP errors (Tulip's `tulip/http/errors.py`). Each carries the status code a server answers it with, so
 * `ServerHttpProtocol` turns any of them into a proper error page: a malformed request is a 400, not a crash.
 */

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
