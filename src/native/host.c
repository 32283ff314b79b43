/*
 * host.c: the hosted mode's one native piece. Node's own loop (libuv) watches the selector's fd (an epoll or
 * kqueue fd is readable while any fd registered in it is ready) and calls a JavaScript function when it is:
 * src/hosted.ts then runs one turn of the tulip loop. Between such calls Node runs everything else of its
 * own: timers, I/O, Promise reactions.
 *
 * The callback goes through napi_make_callback with an async context, as Node's own I/O callbacks do, so
 * that microtasks (Promise reactions) run right after it; an exception it throws is Node's uncaught
 * exception, as from any other callback. The watcher keeps Node's loop alive until host_unwatch, which
 * closes the uv handle; its memory goes in the close callback, since libuv still owns it until then.
 */
#include "util.h"

#include <stdlib.h>
#include <uv.h>

typedef struct tl_host {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  bool stopped;
  int refs; /* the JS handle's and libuv's: freed when both are done with it */
} tl_host;

static const napi_type_tag HOST_TAG = {0x7475c11e7c7a0003ULL, 0x5e5e01a1d7c0f11eULL};

static void release(tl_host *h) {
  if (--h->refs == 0) free(h);
}

static void on_closed(uv_handle_t *handle) {
  tl_host *h = handle->data;
  if (h->callback != NULL) napi_delete_reference(h->env, h->callback);
  if (h->context != NULL) napi_async_destroy(h->env, h->context);
  release(h);
}

static void host_stop(tl_host *h) {
  if (h->stopped) return;
  h->stopped = true;
  uv_poll_stop(&h->poll);
  uv_close((uv_handle_t *)&h->poll, on_closed);
}

static void on_ready(uv_poll_t *poll, int status, int events) {
  (void)status; (void)events; /* the turn asks the selector itself what is ready (and a poll error too) */
  tl_host *h = poll->data;
  if (h->stopped) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  napi_value fn, global, result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, h->callback, &fn) == napi_ok && napi_get_global(env, &global) == napi_ok &&
      napi_make_callback(env, h->context, global, fn, 0, NULL, &result) == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

/* The finalizer of the JS handle: a watcher dropped without host_unwatch stops with it. */
static void host_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  host_stop(data);
  release(data);
}

/* host_watch(fd, callback) -> handle: callback() runs on Node's loop whenever fd is readable */
static napi_value js_host_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2], ext, name;
  int fd;
  napi_valuetype t;
  if (!tl_args(env, info, 2, argv) || !tl_get_fd(env, argv[0], "host_watch", "fd", &fd)) return NULL;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    (void)TL_TYPE_ERROR(env, "host_watch: callback must be a function");
    return NULL;
  }
  uv_loop_t *uv;
  TL_CALL(env, napi_get_uv_event_loop(env, &uv));
  tl_host *h = calloc(1, sizeof *h);
  if (h == NULL) return tl_errno(env, ENOMEM);
  h->env = env;
  h->poll.data = h;
  h->refs = 1; /* libuv's, once the handle is initialised; the JS handle adds its own */
  int r = uv_poll_init(uv, &h->poll, fd);
  if (r != 0) {
    free(h);
    return tl_errno(env, -r); /* libuv errors are negated errno on Unix */
  }
  if (napi_create_reference(env, argv[1], 1, &h->callback) != napi_ok ||
      napi_create_string_utf8(env, "tulip-ts hosted loop", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &h->context) != napi_ok ||
      (r = uv_poll_start(&h->poll, UV_READABLE, on_ready)) != 0) {
    h->stopped = true;
    uv_close((uv_handle_t *)&h->poll, on_closed);
    if (r != 0) return tl_errno(env, -r);
    TL_CALL(env, napi_generic_failure);
  }
  if (napi_create_external(env, h, host_finalize, NULL, &ext) != napi_ok) {
    host_stop(h);
    TL_CALL(env, napi_generic_failure);
  }
  h->refs++;
  TL_CALL(env, napi_type_tag_object(env, ext, &HOST_TAG));
  return ext;
}

/* host_unwatch(handle): no more calls; idempotent */
static napi_value js_host_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p;
  if (!tl_args(env, info, 1, argv) || !tl_get_ext(env, argv[0], &HOST_TAG, "host_unwatch", "host watcher", &p)) return NULL;
  host_stop(p);
  return NULL;
}

bool register_host(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "host_watch", js_host_watch) && tl_export_fn(env, exports, "host_unwatch", js_host_unwatch);
}
