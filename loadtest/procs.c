#include "procs.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "merge.h"

/* ---- both sides: lines of JSON over pipes ---- */

typedef struct linebuf {
    char *p;
    size_t len, cap;
} linebuf_t;

static int lb_append(linebuf_t *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* Calls fn for each complete line (NUL-terminated in place), keeps the rest. */
static void lb_lines(linebuf_t *b, void (*fn)(void *arg, const char *line), void *arg) {
    size_t start = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->p[i] != '\n') continue;
        b->p[i] = '\0';
        fn(arg, b->p + start);
        start = i + 1;
    }
    memmove(b->p, b->p + start, b->len - start);
    b->len -= start;
}

/* Writes msg (stolen) and a newline to fd, all of it. Returns 0 or -1. */
static int write_line(int fd, json_t *msg) {
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!s) return -1;
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps' terminator becomes the line's end */
    int rc = 0;
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(fd, s + off, n + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    free(s);
    return rc;
}

/* ---- the child ---- */

typedef struct lt_link {
    lt_run_t *run;
    int to_parent, from_parent;
    uv_pipe_t pipe;
    int pipe_open;
    char rbuf[4096];
    linebuf_t in;
} lt_link_t;

static void child_line(void *arg, const char *line) {
    lt_link_t *l = arg;
    json_t *msg = json_loads(line, 0, NULL);
    if (!msg) {
        fprintf(stderr, "[p%d] bad line from the parent\n", l->run->proc);
        return;
    }
    if (l->run->sc->on_parent) l->run->sc->on_parent(l->run, msg);
    json_decref(msg);
}

static void child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    lt_link_t *l = h->data;
    *b = uv_buf_init(l->rbuf, sizeof(l->rbuf));
}

static void child_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    lt_link_t *l = s->data;
    if (n < 0) { /* the parent is gone: the run's own timers still end it */
        uv_read_stop(s);
        return;
    }
    if (n > 0 && lb_append(&l->in, b->base, (size_t)n) == 0) lb_lines(&l->in, child_line, l);
}

int lt_procs_child_start(lt_run_t *run) {
    lt_link_t *l = run->link;
    if (!l) return -1;
    if (uv_pipe_init(run->loop, &l->pipe, 0) != 0) return -1;
    l->pipe.data = l;
    l->pipe_open = 1;
    if (uv_pipe_open(&l->pipe, l->from_parent) != 0 ||
        uv_read_start((uv_stream_t *)&l->pipe, child_alloc, child_read) != 0)
        return -1;
    uv_unref((uv_handle_t *)&l->pipe); /* the scenario, not the pipe, keeps the loop running */
    return 0;
}

int lt_procs_send(lt_run_t *run, json_t *msg) {
    lt_link_t *l = run->link;
    if (!l) {
        json_decref(msg);
        return -1;
    }
    return write_line(l->to_parent, msg);
}

static void on_pipe_closed(uv_handle_t *h) {
    lt_link_t *l = h->data;
    free(l->in.p);
    free(l);
}

int lt_procs_report(lt_run_t *run, json_t *report) {
    lt_link_t *l = run->link;
    if (!l) return -1;
    int rc = write_line(l->to_parent, json_pack("{sO}", "report", report));
    close(l->to_parent);
    run->link = NULL;
    if (l->pipe_open) {
        uv_close((uv_handle_t *)&l->pipe, on_pipe_closed); /* closes from_parent too */
    } else {
        close(l->from_parent);
        free(l);
    }
    return rc;
}

/* ---- the parent ---- */

typedef struct child {
    pid_t pid;
    int up, down; /* -1 once closed */
    linebuf_t in;
    int ready, done, eof, status;
    json_t *done_msg, *report;
} child_t;

static void parent_line(void *arg, const char *line) {
    child_t *c = arg;
    json_t *msg = json_loads(line, 0, NULL);
    if (!msg) return;
    if (json_is_true(json_object_get(msg, "ready"))) c->ready = 1;
    if (json_object_get(msg, "done")) {
        c->done = 1;
        c->done_msg = json_incref(json_object_get(msg, "done"));
    }
    if (json_object_get(msg, "report")) {
        json_decref(c->report);
        c->report = json_incref(json_object_get(msg, "report"));
    }
    json_decref(msg);
}

static void tell_all(child_t *cs, int n, json_t *msg) {
    for (int i = 0; i < n; i++)
        if (!cs[i].eof && cs[i].down >= 0 && write_line(cs[i].down, json_incref(msg)) != 0)
            fprintf(stderr, "procs: cannot write to child %d\n", i);
    json_decref(msg);
}

/* The rooms' comments and likes summed over the children's "done". */
static json_t *totals(child_t *cs, int n, int rooms) {
    json_t *c = json_array(), *l = json_array();
    for (int r = 0; r < rooms; r++) {
        json_int_t sc = 0, sl = 0;
        for (int i = 0; i < n; i++) {
            sc += json_integer_value(json_array_get(json_object_get(cs[i].done_msg, "comments"), (size_t)r));
            sl += json_integer_value(json_array_get(json_object_get(cs[i].done_msg, "likes"), (size_t)r));
        }
        json_array_append_new(c, json_integer(sc));
        json_array_append_new(l, json_integer(sl));
    }
    return json_pack("{s{soso}}", "totals", "comments", c, "likes", l);
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads every child until EOF, relaying the barrier and the totals. */
static void parent_loop(lt_run_t *run, child_t *cs, int n) {
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    int *idx = calloc((size_t)n, sizeof(*idx));
    uint64_t deadline = mono_ms() + (uint64_t)(run->duration * 1000) + 180000;
    int go_sent = 0, totals_sent = 0, signalled = 0;
    char buf[65536];
    while (pf && idx) {
        int np = 0, ready = 0, done = 0;
        for (int i = 0; i < n; i++) {
            ready += cs[i].ready || cs[i].eof;
            done += cs[i].done || cs[i].eof;
            if (!cs[i].eof) {
                pf[np] = (struct pollfd){.fd = cs[i].up, .events = POLLIN};
                idx[np++] = i;
            }
        }
        if (!go_sent && ready == n) {
            tell_all(cs, n, json_pack("{sb}", "go", 1));
            go_sent = 1;
        }
        if (!totals_sent && done == n) {
            tell_all(cs, n, totals(cs, n, run->rooms));
            totals_sent = 1;
        }
        if (np == 0) break;
        uint64_t now = mono_ms();
        if (now > deadline && signalled < 2) { /* bounded: the children we started, by pid */
            fprintf(stderr, "procs: children still running after %.0f s: %s\n", run->duration + 180,
                    signalled ? "SIGKILL" : "SIGTERM");
            for (int i = 0; i < n; i++)
                if (!cs[i].eof) kill(cs[i].pid, signalled ? SIGKILL : SIGTERM);
            signalled++;
            deadline = now + 5000;
        }
        int rc = poll(pf, (nfds_t)np, 1000);
        if (rc < 0 && errno != EINTR) break;
        for (int k = 0; rc > 0 && k < np; k++) {
            if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            child_t *c = &cs[idx[k]];
            ssize_t got = read(c->up, buf, sizeof(buf));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0 || lb_append(&c->in, buf, (size_t)got) != 0) {
                c->eof = 1;
                close(c->up);
                c->up = -1;
                continue;
            }
            lb_lines(&c->in, parent_line, c);
        }
    }
    free(pf);
    free(idx);
}

/* Waits for the children, merges their reports, prints and writes it. */
static int parent_finish(lt_run_t *run, child_t *cs, int n) {
    int bad = 0, have = 0;
    json_t **reps = calloc((size_t)n, sizeof(*reps));
    for (int i = 0; i < n; i++) {
        if (cs[i].down >= 0) close(cs[i].down);
        while (waitpid(cs[i].pid, &cs[i].status, 0) < 0 && errno == EINTR) {}
        int exited = WIFEXITED(cs[i].status) && WEXITSTATUS(cs[i].status) <= 1;
        if (!exited || !cs[i].report) {
            fprintf(stderr, "procs: child %d (pid %d) %s\n", i, (int)cs[i].pid,
                    !cs[i].report ? "sent no report" : "did not exit normally");
            bad = 1;
        }
        if (cs[i].report && reps) reps[have++] = cs[i].report;
    }
    int status = 1;
    char err[256];
    json_t *m = have ? lt_merge_reports(reps, (size_t)have, err, sizeof(err)) : NULL;
    if (!m) {
        fprintf(stderr, "procs: no merged report: %s\n", have ? err : "no child reported");
    } else {
        json_t *params = lt_run_params(run); /* the whole run's, not a child's share */
        json_object_set_new(params, "procs", json_integer(n));
        json_object_set_new(params, "merged", json_integer(have));
        json_object_set_new(m, "params", params);
        json_object_del(m, "hosts"); /* one machine: the children's views of it are the same */
        /* the server (measured by child 0) held every child's connections */
        json_t *srv = json_object_get(m, "server");
        json_int_t open = json_integer_value(json_object_get(json_object_get(m, "client"), "open"));
        if (srv && open > 0) {
            json_int_t grew = json_integer_value(json_object_get(srv, "rss_kb")) -
                              json_integer_value(json_object_get(srv, "rss_start_kb"));
            json_object_set_new(srv, "connections", json_integer(open));
            json_object_set_new(srv, "rss_bytes_per_connection", json_real((double)grew * 1024.0 / (double)open));
        }
        if (bad) json_object_set_new(m, "ok", json_false());
        fprintf(stderr, "== %d processes ==\n", n);
        lt_merge_summary(stderr, m);
        if (run->json_path && json_dump_file(m, run->json_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            fprintf(stderr, "cannot write %s\n", run->json_path);
        status = json_is_true(json_object_get(m, "ok")) ? 0 : 1;
        json_decref(m);
    }
    for (int i = 0; i < n; i++) {
        json_decref(cs[i].report);
        json_decref(cs[i].done_msg);
        free(cs[i].in.p);
    }
    free(reps);
    return status;
}

/* In child k: its share of the run. */
static void become_child(lt_run_t *run, int k, int base, int share, int up, int down) {
    lt_link_t *l = calloc(1, sizeof(*l));
    if (!l) _exit(1);
    l->run = run;
    l->to_parent = up;
    l->from_parent = down;
    run->link = l;
    run->proc = k;
    run->conns_total = run->conns;
    run->conns = share;
    run->conn_base = base;
    run->like_rate /= run->procs;
    run->churn /= run->procs;
    if (k != 0) run->server_pid = 0; /* one process measures the server */
}

int lt_procs_fork(lt_run_t *run, int *status) {
    int n = run->procs, base = 0, started = 0;
    child_t *cs = calloc((size_t)n, sizeof(*cs));
    if (!cs) return -1;
    signal(SIGPIPE, SIG_IGN); /* a dead child's pipe: write fails instead */
    for (int k = 0; k < n; k++) {
        int up[2], down[2];
        int share = run->conns / n + (k < run->conns % n);
        if (pipe(up) != 0) break;
        if (pipe(down) != 0) {
            close(up[0]);
            close(up[1]);
            break;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            close(up[0]), close(up[1]), close(down[0]), close(down[1]);
            break;
        }
        if (pid == 0) {
            for (int j = 0; j < k; j++) { /* the parent's ends of the other children's pipes */
                if (cs[j].up >= 0) close(cs[j].up);
                if (cs[j].down >= 0) close(cs[j].down);
            }
            free(cs);
            close(up[0]);
            close(down[1]);
            become_child(run, k, base, share, up[1], down[0]);
            return 1;
        }
        close(up[1]);
        close(down[0]);
        cs[k] = (child_t){.pid = pid, .up = up[0], .down = down[1]};
        base += share;
        started++;
    }
    if (started < n) {
        fprintf(stderr, "procs: started %d of %d processes: %s\n", started, n, strerror(errno));
        for (int i = 0; i < started; i++) kill(cs[i].pid, SIGTERM);
        for (int i = 0; i < started; i++) {
            close(cs[i].up);
            close(cs[i].down);
            waitpid(cs[i].pid, NULL, 0);
        }
        free(cs);
        return -1;
    }
    parent_loop(run, cs, n);
    *status = parent_finish(run, cs, n);
    free(cs);
    return 0;
}
