/**
 * tulip-ts HTTP (Tulip's `tulip.http` package): every public name of coroutines/http/, re-exported.
 */
export * from './multidict.js';
export * from './errors.js';
export * from './websocket.js';
