/**
 * tulip-ts/http (Tulip's `tulip.http`): HTTP/1.1 and WebSocket written as coroutines on streams and
 * generator parsers. Reached as `import { http } from 'tulip-ts'` or `import * as http from 'tulip-ts/http'`.
 */
export * from './errors.js';
export { CIMultiDict, type HeadersInit } from './multidict.js';
export {
  HeadScanner, HttpMessage, HttpVersion10, HttpVersion11, Payload, RESPONSES, Request, Response, scan_request,
  http_date, http_payload_parser, http_request_parser, http_response_parser, read_payload, reason_phrase,
  version_at_least,
  type ContentCoding, type HttpMessageOptions, type HttpVersion, type ParserLimits, type PayloadOptions,
  type RawRequestMessage, type RawResponseMessage, type ResponseOptions,
} from './protocol.js';
export { DRAIN_LIMIT, ServerHttpProtocol, type ServerHttpOptions } from './server.js';
export {
  DEFAULT_MAX_BODY_SIZE, HandlerServerProtocol, ServerRequest, json_response, serve, text_response,
  type Handler, type HandlerResponse, type ResponseBody, type ServeOptions,
} from './handler.js';
export {
  BodyStream, ClientProtocol, HttpRequest, HttpResponse, request,
  type HttpRequestOptions, type RequestData, type RequestOptions,
} from './client.js';
export { bypasses, proxy_from_env, resolve_proxy, type Proxy, type ProxyOptions } from './proxy.js';
export { Session, type SessionOptions } from './session.js';
export {
  CookieJar, domain_match, parse_cookie_date, parse_set_cookie,
  type Cookie, type CookieJarOptions, type CookiesInit, type SetCookie,
} from './cookies.js';
export { FormData, basic_auth, guess_type, quote_plus, urlencode, type FormFieldOptions, type Params } from './forms.js';
export * from './websocket.js';
export * from './ws_deflate.js';
