/*
 * Private to the sale feature: its requests (sale_req.c). See sale.h.
 */
#ifndef LC_SALE_REQ_H
#define LC_SALE_REQ_H

#include "conn.h"

/* A commerce message (sale_open, buy, ...) from a joined connection. */
void lc__sale_on_message(lc_conn_t *c, const lc_msg_t *m);

#endif
