/*
 * lc_list: the one intrusive list of the server (the shape of libuv's
 * queue.h and h2o's linklist.h): a circular doubly linked list with a
 * sentinel head, embedded in the objects it links. O(1) insert and remove,
 * no allocation, and an object can tell whether it is on a list.
 *
 * A node must be initialised (lc_list_init) before use; a node that is on
 * no list points at itself.
 */
#ifndef LC_LIST_H
#define LC_LIST_H

#include <stddef.h>

typedef struct lc_list {
    struct lc_list *prev, *next;
} lc_list_t;

/* The object that holds the node `ptr` as its `member`. */
#define LC_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void lc_list_init(lc_list_t *n) { n->prev = n->next = n; }
static inline int lc_list_empty(const lc_list_t *head) { return head->next == head; }
/* 1 if the node is on a list. */
static inline int lc_list_linked(const lc_list_t *n) { return n->next != n; }

static inline void lc_list__insert(lc_list_t *n, lc_list_t *prev, lc_list_t *next) {
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}
static inline void lc_list_push_back(lc_list_t *head, lc_list_t *n) { lc_list__insert(n, head->prev, head); }
static inline void lc_list_push_front(lc_list_t *head, lc_list_t *n) { lc_list__insert(n, head, head->next); }

/* Takes n off its list (a no-op for a node on none). */
static inline void lc_list_remove(lc_list_t *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    lc_list_init(n);
}

/* The first node, or NULL when empty. */
static inline lc_list_t *lc_list_first(const lc_list_t *head) { return lc_list_empty(head) ? NULL : head->next; }

/* Iterates; the body must not remove `it` (use lc_list_foreach_safe). */
#define lc_list_foreach(it, head) for (lc_list_t *it = (head)->next; it != (head); it = it->next)
/* Iterates; the body may remove `it`, not the node after it. */
#define lc_list_foreach_safe(it, head) \
    for (lc_list_t *it = (head)->next, *it##_next = it->next; it != (head); it = it##_next, it##_next = it->next)

#endif
