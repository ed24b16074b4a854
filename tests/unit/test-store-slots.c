/* Redis Cluster routing: CRC16 and key slots match Redis's own (the
 * cluster spec's test vector and CLUSTER KEYSLOT answers of Redis 7.0),
 * hash tags follow the spec's rules, the map assigns and reports unserved
 * slots, and MOVED / ASK redirections parse (and junk does not). */
#include <string.h>

#include "lc_test.h"
#include "store_slots.h"

static uint16_t slot(const char *k) { return lc_key_slot(k, strlen(k)); }

static void test_crc16_is_redis_cluster_crc16(void) {
    CHECK_EQ_INT(lc_crc16("123456789", 9), 0x31C3); /* the cluster specification's vector */
    CHECK_EQ_INT(lc_crc16("", 0), 0);
}

static void test_key_slots_match_redis(void) {
    /* CLUSTER KEYSLOT of a Redis 7.0.15 node */
    CHECK_EQ_INT(slot("foo"), 12182);
    CHECK_EQ_INT(slot("bar"), 5061);
    CHECK_EQ_INT(slot("somekey"), 11058);
    CHECK_EQ_INT(slot("hello"), 866);
    CHECK_EQ_INT(slot("lc:sale-rooms"), 12826);
    CHECK_EQ_INT(slot("{user1000}.following"), 3443);
    CHECK_EQ_INT(slot("foo{}{bar}"), 8363);
    CHECK_EQ_INT(slot("foo{{bar}}zap"), 4015);
    CHECK_EQ_INT(slot("foo{bar}{zap}"), 5061);
}

static void test_hash_tags_follow_the_spec(void) {
    CHECK_EQ_INT(slot("{user1000}.following"), slot("user1000"));
    CHECK_EQ_INT(slot("foo{}{bar}"), slot("foo{}{bar}")); /* empty first tag: the whole key */
    CHECK(slot("foo{}{bar}") != slot("bar"));
    CHECK_EQ_INT(slot("foo{{bar}}zap"), slot("{bar"));  /* from the first { to the next } */
    CHECK_EQ_INT(slot("foo{bar}{zap}"), slot("bar"));
    CHECK_EQ_INT(slot("{bar"), lc_crc16("{bar", 4) & 16383); /* no closing brace */
    /* every key of a room, its channel too, is the room's slot */
    CHECK_EQ_INT(slot("lc:{demo}:chat"), lc_slot_of_room("demo", 4));
    CHECK_EQ_INT(slot("lc:{demo}:ch"), lc_slot_of_room("demo", 4));
    CHECK_EQ_INT(slot("lc:{demo}:sale:mug"), slot("lc:{demo}:bought:mug"));
}

static void test_the_map_assigns_ranges_and_counts_what_is_unserved(void) {
    static lc_slot_map_t m;
    lc_slots_init(&m);
    CHECK_EQ_INT(lc_slots_unserved(&m), 16384);
    CHECK_EQ_INT(lc_slots_assign(&m, 0, 5460, "127.0.0.1", 7001), 0);
    CHECK_EQ_INT(lc_slots_assign(&m, 5461, 10922, "127.0.0.1", 7002), 0);
    CHECK_EQ_INT(lc_slots_unserved(&m), 16384 - 10923);
    CHECK_EQ_INT(lc_slots_assign(&m, 10923, 16383, "127.0.0.1", 7003), 0);
    CHECK_EQ_INT(lc_slots_unserved(&m), 0);
    CHECK_EQ_INT(m.nnodes, 3);
    CHECK_EQ_INT(m.owner[5461], 1);
    /* a failover: the same slots, a new node; the old keeps its index */
    CHECK_EQ_INT(lc_slots_assign(&m, 5461, 10922, "127.0.0.1", 7005), 0);
    CHECK_EQ_INT(m.owner[7000], 3);
    CHECK_EQ_INT(lc_slots_node(&m, "127.0.0.1", 7002), 1);
    CHECK_EQ_INT(lc_slots_assign(&m, 9, 3, "127.0.0.1", 7001), -1);
    CHECK_EQ_INT(lc_slots_assign(&m, 0, 16384, "127.0.0.1", 7001), -1);
}

static void test_redirections_parse_and_junk_does_not(void) {
    lc_redirect_t r;
    CHECK_EQ_INT(lc_redirect_parse("MOVED 3999 127.0.0.1:6381", 25, &r), 0);
    CHECK(!r.ask && r.slot == 3999 && strcmp(r.host, "127.0.0.1") == 0 && r.port == 6381);
    const char *ask = "-ASK 16383 10.0.0.5:30002";
    CHECK_EQ_INT(lc_redirect_parse(ask, strlen(ask), &r), 0);
    CHECK(r.ask && r.slot == 16383 && strcmp(r.host, "10.0.0.5") == 0 && r.port == 30002);
    const char *v6 = "MOVED 7 ::1:7000";
    CHECK_EQ_INT(lc_redirect_parse(v6, strlen(v6), &r), 0);
    CHECK(strcmp(r.host, "::1") == 0 && r.port == 7000);
    const char *nohost = "MOVED 7 :7000";
    CHECK_EQ_INT(lc_redirect_parse(nohost, strlen(nohost), &r), 0);
    CHECK(r.host[0] == '\0' && r.port == 7000);
    const char *bad[] = {"MOVED", "MOVED 16384 1.2.3.4:5", "MOVED x 1.2.3.4:5", "ASK 1 1.2.3.4", "ASK 1 1.2.3.4:0",
                         "ASK 1 1.2.3.4:70000", "MOVEDX 1 a:1", "NOSCRIPT No matching script", "ASK 1 a:1x", NULL};
    for (int i = 0; bad[i]; i++) CHECK_EQ_INT(lc_redirect_parse(bad[i], strlen(bad[i]), &r), -1);
}

int main(void) {
    RUN(test_crc16_is_redis_cluster_crc16);
    RUN(test_key_slots_match_redis);
    RUN(test_hash_tags_follow_the_spec);
    RUN(test_the_map_assigns_ranges_and_counts_what_is_unserved);
    RUN(test_redirections_parse_and_junk_does_not);
    return lc_test_done();
}
