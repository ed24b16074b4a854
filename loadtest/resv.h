/*
 * lt_resv: the reservations of a checkout run (sale --pay-s), kept by order
 * id so that a `paid` or `expired` message, whichever connection it reaches,
 * finds the reservation it ends. Entries are addressed by index: the array
 * may move when it grows, an index stays valid for the set's lifetime.
 */
#ifndef LT_RESV_H
#define LT_RESV_H

#include <stddef.h>
#include <stdint.h>

/* How the shop's payment of one reservation went. */
enum { PAY_NONE, PAY_QUEUED, PAY_OK, PAY_LATE, PAY_GONE, PAY_FAILED };

typedef struct lt_resv {
    char order[42];
    int buyer;           /* the buyer's index in its scenario */
    int room;
    long qty;
    int64_t pay_by;      /* the deadline, ms since the epoch (Redis's clock) */
    uint64_t reserved_us; /* when the reservation's answer arrived (wall clock) */
    uint64_t pay_sent_us; /* when the first payment request was queued */
    uint64_t pay_ok_us;  /* when the payment's 200 arrived */
    uint64_t retry_at_ms; /* a payment to send again at this loop time, 0: none */
    uint8_t want_pay;    /* chosen to be paid */
    uint8_t pay;         /* PAY_* */
    uint8_t paid_msgs, expired_msgs;
    uint16_t pay_tries;
    int16_t pay_status;  /* the last HTTP status (0: no answer) */
} lt_resv_t;

typedef struct lt_resv_set {
    lt_resv_t *v;
    size_t n, cap;
    int32_t *slot; /* open addressing over order ids: index + 1, 0 empty */
    size_t nslot;  /* a power of two, at least twice n */
} lt_resv_set_t;

/* The reservation of order[0..len) in room: its index, added (zeroed but
 * for the room and order id, *fresh = 1) when it is new. Returns -1 when
 * memory runs out or the id does not fit. */
int lt_resv_add(lt_resv_set_t *s, int room, const char *order, size_t len, int *fresh);
/* The index of order[0..len) in room, or -1. */
int lt_resv_find(const lt_resv_set_t *s, int room, const char *order, size_t len);
void lt_resv_free(lt_resv_set_t *s);

#endif
