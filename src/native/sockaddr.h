/*
 * sockaddr.h: conversion between JS address values and struct sockaddr, shared by sockets.c and dns.c.
 *
 * JS shapes: AF_INET [host, port]; AF_INET6 [host, port, flowinfo, scope_id] (the last two optional on
 * input); AF_UNIX a path string (a leading "\0" names a Linux abstract socket). Hosts are numeric
 * literals only: resolving names blocks, so it belongs to getaddrinfo on a worker thread, never here.
 */
#ifndef TULIP_SOCKADDR_H
#define TULIP_SOCKADDR_H

#include "util.h"
#include <sys/types.h>
#include <sys/socket.h>

/* 1: parsed into ss and len; 0: a JS exception was thrown; -1: family not supported (the caller returns
 * -EAFNOSUPPORT, as the kernel would for a socket of that family). */
int tl_parse_addr(napi_env env, const char *fn, int family, napi_value v, struct sockaddr_storage *ss,
                  socklen_t *len);

/* The JS value for an address; JS null when len is 0 or the family is not one we decode. NULL (C) only
 * if an exception is pending. */
napi_value tl_make_addr(napi_env env, const struct sockaddr_storage *ss, socklen_t len);

#endif
