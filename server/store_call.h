/*
 * A store call on the wire (store_call.c): routed by its room's slot to the
 * node that serves it, its reply classified once (LC_STORE_OK, _UNKNOWN,
 * _REFUSED), a cluster's redirections followed, durable answers held for
 * the group commit (WAIT). Below store.c and store_cmd.c, above the nodes.
 */
#ifndef LC_STORE_CALL_H
#define LC_STORE_CALL_H

#include "store_args.h"
#include "store_types.h"

typedef enum {
    LC__REPLY_MSG,  /* a bulk string holding one msgpack protocol message */
    LC__REPLY_INT,  /* an integer */
    LC__REPLY_NONE, /* anything: nobody waits for it (fire and forget) */
} lc__reply_t;

#define LC__NO_SCRIPT (-1) /* a plain command: the items are its words */

typedef union lc__cb {
    lc_store_msg_cb *msg; /* LC__REPLY_MSG */
    lc_store_int_cb *num; /* LC__REPLY_INT */
} lc__cb_t;

typedef struct lc__call {
    lc_str_t room;         /* whose slot serves the call (n == 0: route by the first key) */
    int script;            /* an lc_script_id_t, or LC__NO_SCRIPT */
    const lc__args_t *args;
    lc__reply_t reply;
    lc_msg_type_t expect;  /* LC__REPLY_MSG: the reply's type; another one is LC_STORE_UNKNOWN (NONE: any) */
    lc__cb_t cb;           /* unused with LC__REPLY_NONE */
    void *arg;
    int durable;           /* its answer waits for --ack-replicas replicas (WAIT) */
} lc__call_t;

/*
 * Sends a call. Returns 0 when it was sent: then the callback runs exactly
 * once, later (never from inside this call), with LC_STORE_OK and the
 * decoded reply, or with LC_STORE_UNKNOWN / LC_STORE_REFUSED (see store.h).
 * Returns -1 when nothing was sent (Redis down, out of memory, args->err):
 * the callback never runs. The backend copies what it keeps of the call:
 * args may be freed when this returns.
 */
int lc__call_send(lc_store_t *s, const lc__call_t *c);

/* The retry timer of deferred calls (TRYAGAIN, a MOVED to a node not up
 * yet). 0, or -1. */
int lc__calls_init(lc_store_t *s);
/* Closing: every deferred and every held call fails now; the timer closes
 * (the store's closed hook runs once it has). */
void lc__calls_close(lc_store_t *s);
/* The group commit, at the end of each loop iteration: one WAIT per node
 * that holds durable answers. */
void lc__calls_wait(lc_store_t *s);

#endif
