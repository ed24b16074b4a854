/*
 * The listening socket's checks. See listen.h.
 */
#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* lws 4.1 binds every interface, silently, when it cannot list them
 * (getifaddrs fails, e.g. under a sandbox without AF_NETLINK). Check the
 * listening socket we got: its address must be the --bind one. */
int lc_listen_check_bound(const char *addr, int port) {
    struct addrinfo hints = {0}, *want = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(addr, NULL, &hints, &want) != 0 || !want) return 0; /* a name: lws's business */
    int ok = 0, found = 0;
    for (int fd = 3; fd < 1024 && !found; fd++) {
        int acc = 0;
        socklen_t al = sizeof(acc);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
            continue;
        int lport = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                 : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : -1;
        if (lport != port) continue;
        found = 1;
        if (ss.ss_family == AF_INET && want->ai_family == AF_INET)
            ok = ((struct sockaddr_in *)&ss)->sin_addr.s_addr ==
                 ((struct sockaddr_in *)want->ai_addr)->sin_addr.s_addr;
        else if (ss.ss_family == AF_INET6 && want->ai_family == AF_INET6)
            ok = memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr,
                        &((struct sockaddr_in6 *)want->ai_addr)->sin6_addr, sizeof(struct in6_addr)) == 0;
    }
    freeaddrinfo(want);
    if (found && !ok) {
        lc_log("listening on another address than --bind %s (lws could not list the interfaces?): "
               "refusing to serve", addr);
        return -1;
    }
    return 0;
}

/* lws 4.1 on a foreign loop logs nothing and returns a context when the
 * port is taken; find out ourselves, the same way it binds (SO_REUSEADDR),
 * so that a second shard on the same port fails loudly at start. */
int lc_listen_port_free(const char *addr, int port) {
    struct addrinfo hints = {0}, *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    if (getaddrinfo(addr, ps, &hints, &res) != 0 || !res) {
        lc_log("--bind %s: not a numeric address", addr);
        return 0;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
        if (!ok) lc_log("cannot listen on %s:%d: %s", addr, port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

