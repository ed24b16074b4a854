/*
 * lc_listen: checks around the listening socket that libwebsockets 4.1
 * does not do itself (it returns a context when the port is taken, and
 * binds every interface, silently, when it cannot list them).
 */
#ifndef LC_LISTEN_H
#define LC_LISTEN_H

/* 1 if addr:port can be bound (the way lws binds: SO_REUSEADDR); else 0,
 * with the reason logged. addr must be numeric. */
int lc_listen_port_free(const char *addr, int port);

/* After lws started: 0 if the socket listening on port is on addr (or addr
 * is not numeric: lws's business), -1 if lws bound another address
 * (logged: refuse to serve). */
int lc_listen_check_bound(const char *addr, int port);

#endif
