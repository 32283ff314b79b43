/*
 * tls_ctx.c: TLS contexts (SSL_CTX) for tls.c's connections, and the helpers the TLS files share.
 *
 * A context holds what Python's SSLContext holds: the side (client, server, either), the verify mode,
 * the certificate chain and key, the trusted CAs, the cipher list, the protocol versions and the ALPN
 * list. Configuration calls return null or an error array (make_error) instead of throwing, so that the
 * TypeScript side raises Python's exception classes with OpenSSL's reason.
 *
 * What it must never do: prompt for a password (a "no password" callback is always installed), or
 * free an SSL_CTX that a connection still uses (see the counts in tls.h).
 */
#include "tls.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

void ctx_release(tl_ctx *c) {
  if (--c->refs > 0) return;
  SSL_CTX_free(c->ctx);
  c->ctx = NULL;
  free(c->alpn);
  c->alpn = NULL;
  if (c->finalized) free(c);
}

/* ---- argument helpers ---------------------------------------------------------------------------------- */

bool get_ctx(napi_env env, napi_value v, const char *fn, tl_ctx **out) {
  void *p;
  if (!tl_get_ext(env, v, &CTX_TAG, fn, "TLS context", &p)) return false;
  tl_ctx *c = p;
  if (c->js_freed) {
    napi_throw_error(env, NULL, "TLS context is already freed");
    return false;
  }
  *out = c;
  return true;
}

/* A string argument (UTF-8, at most 16 MiB) into a malloc'd C string; null/undefined gives NULL when
 * allowed. The caller frees. */
bool get_str(napi_env env, napi_value v, const char *fn, const char *name, bool nullable, char **out) {
  napi_valuetype t;
  size_t len;
  *out = NULL;
  if (nullable && tl_is_undefined(env, v)) return true;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return TL_TYPE_ERROR(env, "%s: %s must be a string%s", fn, name, nullable ? " or null" : "");
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if (len > 1 << 24) return TL_RANGE_ERROR(env, "%s: %s is too long", fn, name);
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    return TL_TYPE_ERROR(env, "%s: %s must not contain NUL characters", fn, name);
  }
  *out = s;
  return true;
}

/* ---- errors -------------------------------------------------------------------------------------------- */

/* Python's short library names ("SSL", "PEM", "X509") for the [LIB: REASON] prefix of its messages. */
static const char *lib_name(int lib) {
  switch (lib) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_PKCS12: return "PKCS12";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_PROV: return "PROV";
#ifdef ERR_LIB_OSSL_DECODER
    case ERR_LIB_OSSL_DECODER: return "DECODER";
#endif
    case ERR_LIB_CRYPTO: return "CRYPTO";
    default: return NULL;
  }
}

/* The error an OpenSSL failure reports: the most specific entry is the earliest one queued. */
unsigned long take_error_queue(void) {
  unsigned long first = ERR_get_error(), e;
  while ((e = ERR_get_error()) != 0) {
    /* A later "PEM lib" or "system lib" wrapper says less than the first cause: keep the first. */
  }
  return first;
}

napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) napi_get_null(env, &v);
  else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* [ssl_error, library, reason, verify_code, verify_message, errno] (library and reason are null when
 * OpenSSL queued nothing: a bare EOF or a system error). */
napi_value make_error(napi_env env, int ssl_error, unsigned long code, long verify_code, int sys_errno) {
  napi_value arr;
  TL_CALL(env, napi_create_array_with_length(env, 6, &arr));
  const char *lib = code ? lib_name(ERR_GET_LIB(code)) : NULL;
  if (code && lib == NULL) lib = ERR_lib_error_string(code);
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  char buf[64];
  if (code && reason == NULL) {
    snprintf(buf, sizeof buf, "reason(%d)", ERR_GET_REASON(code));
    reason = buf;
  }
  napi_set_element(env, arr, 0, tl_num(env, ssl_error));
  napi_set_element(env, arr, 1, str_or_null(env, lib));
  napi_set_element(env, arr, 2, str_or_null(env, reason));
  napi_set_element(env, arr, 3, tl_num(env, verify_code));
  napi_set_element(env, arr, 4, str_or_null(env, verify_code ? X509_verify_cert_error_string(verify_code) : NULL));
  napi_set_element(env, arr, 5, tl_num(env, sys_errno));
  return arr;
}

/* For the context calls: null on success, else the error of the queue. */
static napi_value ctx_result(napi_env env, bool ok) {
  if (ok) {
    ERR_clear_error();
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  return make_error(env, SSL_ERROR_SSL, take_error_queue(), 0, 0);
}

/* ---- contexts ------------------------------------------------------------------------------------------ */

/* Installed on every context: an encrypted key without a password fails instead of prompting on a tty. */
static int no_password_cb(char *buf, int size, int rwflag, void *u) {
  (void)buf; (void)size; (void)rwflag; (void)u;
  return 0;
}

typedef struct { const char *pw; size_t len; bool too_long; } pw_data;

static int password_cb(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  pw_data *d = u;
  if (d == NULL) return 0;
  if (d->len > (size_t)size) {
    d->too_long = true;
    return -1;
  }
  memcpy(buf, d->pw, d->len);
  return (int)d->len;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  (void)ssl;
  tl_ctx *c = arg;
  if (c->alpn == NULL) return SSL_TLSEXT_ERR_NOACK;
  unsigned char *sel = NULL;
  unsigned char sel_len = 0;
  /* Server preference, as Python's select callback: the first of ours that the client offers. */
  if (SSL_select_next_proto(&sel, &sel_len, c->alpn, c->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  *outlen = sel_len;
  return SSL_TLSEXT_ERR_OK;
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  tl_ctx *c = data;
  c->finalized = true;
  if (!c->js_freed) {
    c->js_freed = true;
    ctx_release(c); /* frees the struct too when no connection holds it */
  } else if (c->refs == 0) {
    free(c); /* released earlier by tls_ctx_free and the last connection */
  }
}

/* tls_ctx_new(method) -> context; method 0: either side (TLS_method), 1: client, 2: server */
static napi_value js_ctx_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], ext;
  int64_t method;
  if (!tl_args(env, info, 1, argv) || !tl_get_int(env, argv[0], "tls_ctx_new", "method", 0, 2, &method)) return NULL;
  SSL_CTX *ctx = SSL_CTX_new(method == 1 ? TLS_client_method() : method == 2 ? TLS_server_method() : TLS_method());
  if (ctx == NULL) {
    napi_throw_error(env, NULL, "SSL_CTX_new failed");
    return NULL;
  }
  tl_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) {
    SSL_CTX_free(ctx);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  c->ctx = ctx;
  c->refs = 1;
  SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Writes go to a memory BIO, so they always complete; partial writes only matter for record sizes. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  /* Disable renegotiation (TLS 1.2) as modern Python does; no compression (CRIME). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, c);
  if (napi_create_external(env, c, ctx_finalize, NULL, &ext) != napi_ok) {
    ctx_release(c);
    TL_CALL(env, napi_generic_failure);
  }
  /* From here the finalizer owns c: a failure to tag must not release it a second time. */
  TL_CALL(env, napi_type_tag_object(env, ext, &CTX_TAG));
  return ext;
}

static napi_value js_ctx_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p;
  if (!tl_args(env, info, 1, argv) || !tl_get_ext(env, argv[0], &CTX_TAG, "tls_ctx_free", "TLS context", &p)) return NULL;
  tl_ctx *c = p;
  /* Drops the JS count: the SSL_CTX goes now, or with its last connection. The struct stays for the
   * finalizer, since the external still points at it. */
  if (!c->js_freed) {
    c->js_freed = true;
    ctx_release(c);
  }
  return NULL;
}

/* tls_ctx_set_sni(ctx, on): whether server handshakes on this context stop for the sni_callback */
static napi_value js_ctx_set_sni(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_ctx *c;
  bool on;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_sni", &c) ||
      !tl_get_bool(env, argv[1], "tls_ctx_set_sni", "on", &on))
    return NULL;
  SSL_CTX_set_client_hello_cb(c->ctx, on ? tl_client_hello_cb : NULL, NULL);
  return NULL;
}

/* tls_ctx_set_verify(ctx, mode): 0 CERT_NONE, 1 CERT_OPTIONAL, 2 CERT_REQUIRED */
static napi_value js_ctx_set_verify(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_ctx *c;
  int64_t mode;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_verify", &c) ||
      !tl_get_int(env, argv[1], "tls_ctx_set_verify", "mode", 0, 2, &mode))
    return NULL;
  int m = mode == 0 ? SSL_VERIFY_NONE : mode == 1 ? SSL_VERIFY_PEER : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c->ctx, m, NULL);
  return NULL;
}

/* tls_ctx_set_versions(ctx, min, max): TLS1_2_VERSION-style numbers, 0 = no bound */
static napi_value js_ctx_set_versions(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tl_ctx *c;
  int64_t lo, hi;
  if (!tl_args(env, info, 3, argv) || !get_ctx(env, argv[0], "tls_ctx_set_versions", &c) ||
      !tl_get_int(env, argv[1], "tls_ctx_set_versions", "min", 0, 0xffff, &lo) ||
      !tl_get_int(env, argv[2], "tls_ctx_set_versions", "max", 0, 0xffff, &hi))
    return NULL;
  return ctx_result(env, SSL_CTX_set_min_proto_version(c->ctx, (int)lo) == 1 &&
                             SSL_CTX_set_max_proto_version(c->ctx, (int)hi) == 1);
}

/* tls_ctx_load_cert_chain(ctx, certfile, keyfile, password | null) -> null | error */
static napi_value js_ctx_load_cert_chain(napi_env env, napi_callback_info info) {
  napi_value argv[4], r = NULL;
  tl_ctx *c;
  char *certfile = NULL, *keyfile = NULL;
  uint8_t *pw = NULL;
  size_t pwlen = 0;
  const char *fn = "tls_ctx_load_cert_chain";
  if (!tl_args(env, info, 4, argv) || !get_ctx(env, argv[0], fn, &c) ||
      !get_str(env, argv[1], fn, "certfile", false, &certfile) || !get_str(env, argv[2], fn, "keyfile", false, &keyfile))
    goto out;
  if (!tl_is_undefined(env, argv[3]) && !tl_get_bytes(env, argv[3], fn, "password", &pw, &pwlen)) goto out;
  pw_data d = {(const char *)pw, pwlen, false};
  ERR_clear_error();
  SSL_CTX_set_default_passwd_cb(c->ctx, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(c->ctx, pw != NULL ? &d : NULL);
  bool ok = SSL_CTX_use_certificate_chain_file(c->ctx, certfile) == 1;
  if (!ok) {
    r = ctx_result(env, false);
  } else if (SSL_CTX_use_PrivateKey_file(c->ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
    unsigned long code = take_error_queue();
    napi_value e = make_error(env, SSL_ERROR_SSL, code, 0, 0);
    /* Tell the TS side which step failed, so that it can say "wrong password?" */
    napi_value tag;
    napi_create_string_utf8(env, d.too_long ? "password_too_long" : "key", NAPI_AUTO_LENGTH, &tag);
    napi_set_element(env, e, 6, tag);
    r = e;
  } else {
    r = ctx_result(env, SSL_CTX_check_private_key(c->ctx) == 1);
  }
  SSL_CTX_set_default_passwd_cb(c->ctx, no_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(c->ctx, NULL);
out:
  free(certfile);
  free(keyfile);
  return r;
}

/* tls_ctx_load_verify_locations(ctx, cafile | null, capath | null, cadata: string (PEM) | Uint8Array (DER) | null) */
static napi_value js_ctx_load_verify_locations(napi_env env, napi_callback_info info) {
  napi_value argv[4], r = NULL;
  tl_ctx *c;
  char *cafile = NULL, *capath = NULL, *pem = NULL;
  uint8_t *der = NULL;
  size_t derlen = 0;
  const char *fn = "tls_ctx_load_verify_locations";
  if (!tl_args(env, info, 4, argv) || !get_ctx(env, argv[0], fn, &c) || !get_str(env, argv[1], fn, "cafile", true, &cafile) ||
      !get_str(env, argv[2], fn, "capath", true, &capath))
    goto out;
  if (!tl_is_undefined(env, argv[3])) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t == napi_string) {
      if (!get_str(env, argv[3], fn, "cadata", false, &pem)) goto out;
    } else if (!tl_get_bytes(env, argv[3], fn, "cadata", &der, &derlen)) {
      goto out;
    }
  }
  ERR_clear_error();
  bool ok = true;
  if (cafile != NULL || capath != NULL) ok = SSL_CTX_load_verify_locations(c->ctx, cafile, capath) == 1;
  X509_STORE *store = SSL_CTX_get_cert_store(c->ctx);
  if (ok && (pem != NULL || der != NULL)) {
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : BIO_new_mem_buf(der, (int)derlen);
    int count = 0;
    ok = bio != NULL;
    while (ok) {
      X509 *x = pem != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : d2i_X509_bio(bio, NULL);
      if (x == NULL) break;
      /* The same CA twice is not an error (as in Python). */
      if (X509_STORE_add_cert(store, x) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) ERR_clear_error();
        else ok = false;
      }
      X509_free(x);
      count++;
    }
    BIO_free(bio);
    if (ok) {
      /* Running off the end of the data queues a "no start line" / "not enough data": expected once some
       * certificates were read; with none, it is the error. */
      if (count > 0) ERR_clear_error();
      else ok = false;
    }
  }
  r = ctx_result(env, ok);
out:
  free(cafile);
  free(capath);
  free(pem);
  return r;
}

/* tls_ctx_set_default_verify_paths(ctx) -> null | error; also returns (as a second call) the paths. */
static napi_value js_ctx_set_default_verify_paths(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_ctx *c;
  if (!tl_args(env, info, 1, argv) || !get_ctx(env, argv[0], "tls_ctx_set_default_verify_paths", &c)) return NULL;
  ERR_clear_error();
  return ctx_result(env, SSL_CTX_set_default_verify_paths(c->ctx) == 1);
}

/* tls_default_verify_paths() -> [cert_file_env, cert_file, cert_dir_env, cert_dir] (Python's
 * ssl.get_default_verify_paths() raw values) */
static napi_value js_default_verify_paths(napi_env env, napi_callback_info info) {
  napi_value arr;
  TL_CALL(env, napi_create_array_with_length(env, 4, &arr));
  napi_set_element(env, arr, 0, str_or_null(env, X509_get_default_cert_file_env()));
  napi_set_element(env, arr, 1, str_or_null(env, X509_get_default_cert_file()));
  napi_set_element(env, arr, 2, str_or_null(env, X509_get_default_cert_dir_env()));
  napi_set_element(env, arr, 3, str_or_null(env, X509_get_default_cert_dir()));
  return arr;
}

/* tls_ctx_set_ciphers(ctx, spec) -> null | error (the TLS 1.2 list; TLS 1.3 suites stay the default) */
static napi_value js_ctx_set_ciphers(napi_env env, napi_callback_info info) {
  napi_value argv[2], r = NULL;
  tl_ctx *c;
  char *spec = NULL;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_ciphers", &c) ||
      !get_str(env, argv[1], "tls_ctx_set_ciphers", "ciphers", false, &spec))
    return NULL;
  ERR_clear_error();
  r = ctx_result(env, SSL_CTX_set_cipher_list(c->ctx, spec) == 1);
  free(spec);
  return r;
}

/* tls_ctx_set_alpn(ctx, wire) -> null | error: the client's offer, and the server's preference list */
static napi_value js_ctx_set_alpn(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_ctx *c;
  uint8_t *wire;
  size_t len;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_alpn", &c) ||
      !tl_get_bytes(env, argv[1], "tls_ctx_set_alpn", "protocols", &wire, &len))
    return NULL;
  if (len > 0xffff) { (void)TL_RANGE_ERROR(env, "tls_ctx_set_alpn: the protocol list is too long"); return NULL; }
  unsigned char *copy = malloc(len ? len : 1);
  if (copy == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  memcpy(copy, wire, len);
  free(c->alpn);
  c->alpn = copy;
  c->alpn_len = (unsigned int)len;
  ERR_clear_error();
  /* SSL_CTX_set_alpn_protos returns 0 on success (the opposite of most of OpenSSL). */
  return ctx_result(env, SSL_CTX_set_alpn_protos(c->ctx, copy, (unsigned int)len) == 0);
}

bool register_tls_ctx(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"tls_ctx_new", js_ctx_new},
      {"tls_ctx_free", js_ctx_free},
      {"tls_ctx_set_verify", js_ctx_set_verify},
      {"tls_ctx_set_versions", js_ctx_set_versions},
      {"tls_ctx_load_cert_chain", js_ctx_load_cert_chain},
      {"tls_ctx_load_verify_locations", js_ctx_load_verify_locations},
      {"tls_ctx_set_default_verify_paths", js_ctx_set_default_verify_paths},
      {"tls_default_verify_paths", js_default_verify_paths},
      {"tls_ctx_set_ciphers", js_ctx_set_ciphers},
      {"tls_ctx_set_alpn", js_ctx_set_alpn},
      {"tls_ctx_set_sni", js_ctx_set_sni},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!tl_export_fn(env, exports, fns[i].name, fns[i].cb)) return false;
  return true;
}
