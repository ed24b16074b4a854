/*
 * Private to the store's typed commands (store_cmd.c, store_shop.c): the one
 * way they send a script call that answers a message.
 */
#ifndef LC_STORE_CMD_H
#define LC_STORE_CMD_H

#include "store.h"
#include "store_args.h"

/* Sends script with a's keys and arguments (a is freed here), answering one
 * message of type expect; durable: the answer waits for --ack-replicas
 * replicas (WAIT) before cb runs. 0 sent, -1 not (cb never runs). */
int lc__send_msg(lc_store_t *s, lc_str_t room, int script, lc__args_t *a, lc_msg_type_t expect, int durable,
                 lc_store_msg_cb *cb, void *arg);

#endif
