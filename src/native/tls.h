/*
 * tls.h: what the TLS files of the addon share: the context and connection structs, their type tags,
 * and the argument and error helpers (defined in tls_ctx.c).
 */
#ifndef TULIP_TLS_H
#define TULIP_TLS_H

#include "util.h"

#include <openssl/ssl.h>
#include <openssl/err.h>

typedef struct tl_ctx {
  SSL_CTX *ctx;
  int refs;           /* 1 while the JS object is alive and not freed, + one per live connection */
  bool js_freed;      /* tls_ctx_free was called, or the finalizer ran: the JS count is gone */
  bool finalized;     /* the external is gone: the struct may be freed with the last count */
  unsigned char *alpn; /* the server's ALPN list in wire format (length-prefixed names) */
  unsigned int alpn_len;
} tl_ctx;

typedef struct tl_conn {
  SSL *ssl;
  tl_ctx *owner;
  int last_ssl_error;       /* SSL_ERROR_* of the last failure */
  unsigned long last_err;   /* the OpenSSL error code of the last failure (0: none queued) */
  long verify_code;         /* X509_V_* when the failure was a certificate verification */
  int sys_errno;
  /* The server's SNI step (see tl_client_hello_cb): the name the client sent, whether JavaScript has
   * answered, the alert it asked for (0: go on), and the context it switched to (counted, like owner). */
  char *sni_name;
  bool sni_done;
  int sni_alert;
  tl_ctx *sni_owner;
} tl_conn;

/* Type tags: a foreign external (or one of the other kind) is a TypeError, never a bad cast. */
static const napi_type_tag CTX_TAG = {0x7475c11e7c7a0001ULL, 0x5e5e01a1d7c0f11eULL};
static const napi_type_tag CONN_TAG = {0x7475c11e7c7a0002ULL, 0x5e5e01a1d7c0f11eULL};

/* Drops one count of a context; the last one frees the SSL_CTX (and the struct once finalized). */
void ctx_release(tl_ctx *c);
/* A live context (throws when freed). */
bool get_ctx(napi_env env, napi_value v, const char *fn, tl_ctx **out);
/* A string argument as a malloc'd C string (NULL for null/undefined when nullable); the caller frees. */
bool get_str(napi_env env, napi_value v, const char *fn, const char *name, bool nullable, char **out);
/* Empties OpenSSL's error queue of this thread, returning its first (most specific) entry. */
unsigned long take_error_queue(void);
napi_value str_or_null(napi_env env, const char *s);
/* The JS form of a failure: [ssl_error, library, reason, verify_code, verify_message, errno]. */
napi_value make_error(napi_env env, int ssl_error, unsigned long code, long verify_code, int sys_errno);
/* tls_cert.c: Python's getpeercert() dict for a certificate. */
napi_value tl_cert_dict(napi_env env, X509 *x);
/* The ClientHello callback of a context with an sni_callback (tls.c): pauses the handshake once, so that
 * JavaScript can look at the name and switch the context; see tls_sni_name / tls_sni_done. */
int tl_client_hello_cb(SSL *s, int *al, void *arg);
/* tls_ctx.c's functions. */
bool register_tls_ctx(napi_env env, napi_value exports);

#endif
