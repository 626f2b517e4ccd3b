/*
 * Misuse of every exported function: NULL, freed, forged and wrong-kind handles; NULL pointers;
 * invalid UTF-8 and enum values; wrong-state calls; panics in the core and in callbacks.
 * Each must return an error code and never crash (valgrind watches for invalid accesses).
 */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

static const char *BAD_UTF8 = "\xff\xfe";
static const char *ONE[] = {"x"};

/* Calls every monitor function with valid arguments; each must return `want` (a handle error). */
static void monitor_calls(FdMonitor *m, FdStatus want) {
    char *s = (char *)"untouched";
    FdAgentState st;
    FdQueueStatus q;
    uint32_t mask;
    uint64_t at;
    FdSubscription *sub = NULL;
    CHECK_ST(fd_monitor_push_json(m, T0, "{\"type\":\"agent_logged_out\",\"agent\":\"a\"}"), want);
    CHECK_ST(fd_monitor_queue_configured(m, T0, "q", "Q", ONE, 1, FD_MEDIA_CHAT), want);
    CHECK_ST(fd_monitor_agent_logged_in(m, T0, "a", "A", ONE, 1, FD_MEDIA_CHAT), want);
    CHECK_ST(fd_monitor_agent_logged_out(m, T0, "a"), want);
    CHECK_ST(fd_monitor_agent_state_changed(m, T0, "a", FD_AGENT_BUSY), want);
    CHECK_ST(fd_monitor_interaction_queued(m, T0, "i", "q", FD_MEDIUM_CHAT, NULL), want);
    CHECK_ST(fd_monitor_interaction_answered(m, T0, "i", "a"), want);
    CHECK_ST(fd_monitor_interaction_abandoned(m, T0, "i"), want);
    CHECK_ST(fd_monitor_interaction_ended(m, T0, "i"), want);
    CHECK_ST(fd_monitor_client_status_json(m, T0, "c", "{\"activity\":\"online\",\"medium\":null,\"note\":null}"), want);
    CHECK_ST(fd_monitor_agent_state(m, "a", &st), want);
    CHECK_ST(fd_monitor_queue_status(m, "q", FD_MEDIUM_CHAT, &q), want);
    CHECK_ST(fd_monitor_media_offered(m, &mask), want);
    CHECK_ST(fd_monitor_center_status_json(m, &s), want);
    CHECK(s == NULL);
    s = (char *)"untouched";
    CHECK_ST(fd_monitor_presence_json(m, "center", &s), want);
    CHECK(s == NULL);
    s = (char *)"untouched";
    CHECK_ST(fd_monitor_presence_pidf(m, "center", "acd.example", &s), want);
    CHECK(s == NULL);
    CHECK_ST(fd_monitor_agent_pidf(m, T0, "a", (const uint8_t *)"<x/>", 4), want);
    CHECK_ST(fd_monitor_watch(m, 1, NULL, "center", &s), want);
    CHECK(s == NULL);
    CHECK_ST(fd_monitor_unwatch(m, 1, "center"), want);
    CHECK_ST(fd_monitor_poll_timeout(m, &at), want);
    CHECK_ST(fd_monitor_handle_timeout(m, T0), want);
    CHECK_ST(fd_monitor_poll_event(m, &s), want);
    CHECK(s == NULL);
    CHECK_ST(fd_monitor_subscribe(m, NULL, NULL, &sub), FD_ERR_NULL_POINTER);
}

static void noop_cb(void *u, const char *j) {
    (void)u;
    (void)j;
}

static void broker_calls(FdBroker *b, FdStatus want) {
    char *s = NULL;
    uint64_t conn = 0, at = 0;
    FdTransmit t;
    FdAgentState st;
    FdQueueStatus q;
    FdSubscription *sub = NULL;
    CHECK_ST(fd_broker_open_connection(b, T0, &conn), want);
    CHECK_ST(fd_broker_handle_input(b, T0, 1, NULL, 0), want);
    CHECK_ST(fd_broker_handle_disconnect(b, T0, 1), want);
    CHECK_ST(fd_broker_set_writable(b, 1, true), want);
    CHECK_ST(fd_broker_poll_transmit(b, &t), want);
    CHECK(t.data.data == NULL);
    CHECK_ST(fd_broker_poll_timeout(b, &at), want);
    CHECK_ST(fd_broker_handle_timeout(b, T0), want);
    CHECK_ST(fd_broker_poll_event(b, &s), want);
    CHECK_ST(fd_broker_subscribe(b, noop_cb, NULL, &sub), want);
    CHECK_ST(fd_broker_agent_login(b, T0, "a", "A", FD_ROLE_AGENT, ONE, 1, FD_MEDIA_CHAT), want);
    CHECK_ST(fd_broker_agent_logout(b, T0, "a"), want);
    CHECK_ST(fd_broker_agent_set_state(b, T0, "a", FD_AGENT_AWAY), want);
    CHECK_ST(fd_broker_agent_accept(b, T0, "a", "i", &s), want);
    CHECK(s == NULL);
    CHECK_ST(fd_broker_agent_decline(b, T0, "a", "i"), want);
    CHECK_ST(fd_broker_agent_invite(b, T0, "a", "c", FD_MEDIUM_CHAT, "m", &s), want);
    CHECK_ST(fd_broker_agent_respond_invitation(b, T0, "a", "v", true, &s), want);
    CHECK_ST(fd_broker_agent_send_chat(b, T0, "a", "i", "t", &s), want);
    CHECK_ST(fd_broker_agent_end(b, T0, "a", "i"), want);
    CHECK_ST(fd_broker_configure_queue(b, T0, "q", "Q", NULL, 0, FD_MEDIA_CHAT), want);
    CHECK_ST(fd_broker_center_event_json(b, T0, "{\"type\":\"agent_logged_out\",\"agent\":\"a\"}"), want);
    CHECK_ST(fd_broker_put_product_json(b, "{\"id\":\"p\",\"name\":\"P\",\"description\":\"\"}"), want);
    CHECK_ST(fd_broker_put_record_json(b, "{\"id\":\"h\",\"client\":\"c\",\"started_at\":1,\"ended_at\":null,\"product\":null,\"agent\":null,\"medium\":\"chat\",\"direction\":\"inbound\",\"outcome\":\"completed\",\"summary\":\"\"}"), want);
    CHECK_ST(fd_broker_put_order_json(b, "{\"id\":\"o\",\"client\":\"c\",\"product\":\"p\",\"status\":\"placed\",\"history\":[],\"delivery\":{\"address\":\"a\",\"window\":null,\"instructions\":null},\"revision\":1}"), want);
    CHECK_ST(fd_broker_put_profile_json(b, "c", "{}"), want);
    CHECK_ST(fd_broker_set_order_status(b, T0, "o", "shipped"), want);
    CHECK_ST(fd_broker_agent_state(b, "a", &st), want);
    CHECK_ST(fd_broker_queue_status(b, "q", FD_MEDIUM_CHAT, &q), want);
    CHECK_ST(fd_broker_center_status_json(b, &s), want);
    CHECK_ST(fd_broker_presence_json(b, "center", &s), want);
    CHECK(s == NULL);
}

static void client_calls(FdClient *c, FdStatus want) {
    char *s = NULL;
    bool flag = false;
    uint64_t at = 0, id = 0;
    FdBytes f;
    FdSubscription *sub = NULL;
    CHECK_ST(fd_client_save_json(c, &s), want);
    CHECK_ST(fd_client_set_token(c, "t"), want);
    CHECK_ST(fd_client_start(c, T0), want);
    CHECK_ST(fd_client_close(c, T0), want);
    CHECK_ST(fd_client_poll_connect(c, &flag), want);
    CHECK_ST(fd_client_handle_connected(c, T0), want);
    CHECK_ST(fd_client_handle_disconnected(c, T0), want);
    CHECK_ST(fd_client_handle_input(c, T0, NULL, 0), want);
    CHECK_ST(fd_client_poll_transmit(c, &f), want);
    CHECK(f.data == NULL);
    CHECK_ST(fd_client_poll_timeout(c, &at), want);
    CHECK_ST(fd_client_handle_timeout(c, T0), want);
    CHECK_ST(fd_client_is_connected(c, &flag), want);
    CHECK_ST(fd_client_poll_event(c, &s), want);
    CHECK_ST(fd_client_subscribe(c, noop_cb, NULL, &sub), want);
    CHECK_ST(fd_client_view_json(c, &s), want);
    CHECK_ST(fd_client_request_json(c, "{\"op\":\"get_profile\"}", &id), want);
    CHECK_ST(fd_client_get_history(c, &id), want);
    CHECK_ST(fd_client_get_center_status(c, &id), want);
    CHECK_ST(fd_client_watch(c, "center", &id), want);
    CHECK_ST(fd_client_set_status_json(c, "{\"activity\":\"idle\",\"medium\":null,\"note\":null}", &id), want);
    CHECK_ST(fd_client_respond_invitation(c, "v", true, &id), want);
    CHECK_ST(fd_client_invite_agent(c, "a", FD_MEDIUM_CHAT, "m", &id), want);
    CHECK_ST(fd_client_start_interaction(c, FD_MEDIUM_CHAT, NULL, NULL, NULL, &id), want);
    CHECK_ST(fd_client_send_chat(c, "i", "t", &id), want);
    CHECK_ST(fd_client_get_profile(c, &id), want);
    CHECK_ST(fd_client_get_orders(c, &id), want);
    CHECK_ST(fd_client_get_products(c, &id), want);
    CHECK_ST(fd_client_send_email(c, "s", "t", NULL, &id), want);
    CHECK_ST(fd_client_get_transcript(c, "i", 0, 0, &id), want);
    CHECK_ST(fd_client_signal_json(c, "i", "{\"kind\":\"end_of_candidates\"}", &id), want);
    CHECK_ST(fd_client_ice_servers(c, "i", &id), want);
    CHECK_ST(fd_client_register_push(c, "fcm", "t", &id), want);
    CHECK_ST(fd_client_unregister_push(c, "t", &id), want);
    CHECK_ST(fd_client_end_interaction(c, "i", &id), want);
    CHECK(s == NULL);
}

static void test_bad_handles(void) {
    monitor_calls(NULL, FD_ERR_NULL_POINTER);
    broker_calls(NULL, FD_ERR_NULL_POINTER);
    client_calls(NULL, FD_ERR_NULL_POINTER);

    /* Forged handles: never created. */
    monitor_calls((FdMonitor *)(uintptr_t)0x12345, FD_ERR_INVALID_HANDLE);
    broker_calls((FdBroker *)(uintptr_t)0x40, FD_ERR_INVALID_HANDLE);
    client_calls((FdClient *)(uintptr_t)0x7fff0000, FD_ERR_INVALID_HANDLE);

    /* Freed handles, and handles of another kind. */
    FdMonitor *m = NULL;
    FdBroker *b = NULL;
    FdClient *c = NULL;
    CHECK_OK(fd_monitor_new(&m));
    CHECK_OK(fd_broker_new("{}", &b));
    CHECK_OK(fd_client_new("tok", 1, &c));
    monitor_calls((FdMonitor *)(void *)b, FD_ERR_INVALID_HANDLE);
    broker_calls((FdBroker *)(void *)c, FD_ERR_INVALID_HANDLE);
    client_calls((FdClient *)(void *)m, FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_monitor_free((FdMonitor *)(void *)c), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_broker_free((FdBroker *)(void *)m), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_client_free((FdClient *)(void *)b), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_subscription_free((FdSubscription *)(void *)m), FD_ERR_INVALID_HANDLE);
    CHECK_OK(fd_monitor_free(m));
    CHECK_OK(fd_broker_free(b));
    CHECK_OK(fd_client_free(c));
    monitor_calls(m, FD_ERR_INVALID_HANDLE);
    broker_calls(b, FD_ERR_INVALID_HANDLE);
    client_calls(c, FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_monitor_free(m), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_broker_free(b), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_client_free(c), FD_ERR_INVALID_HANDLE);
    /* Freeing NULL is a no-op, like free(NULL). */
    CHECK_OK(fd_monitor_free(NULL));
    CHECK_OK(fd_broker_free(NULL));
    CHECK_OK(fd_client_free(NULL));
    CHECK_OK(fd_subscription_free(NULL));
    fd_string_free(NULL);
    fd_bytes_free(NULL);
    FdBytes empty = {NULL, 0};
    fd_bytes_free(&empty);
    CHECK(fd_last_error_message() != NULL);
}

static void test_bad_arguments(void) {
    FdMonitor *m = NULL;
    char *s0 = NULL;
    CHECK_ST(fd_monitor_new(NULL), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_monitor_new(&m));
    /* NULL out-pointers and strings. */
    CHECK_ST(fd_monitor_agent_state(m, "a", NULL), FD_ERR_NULL_POINTER);
    CHECK_HAS(fd_last_error_message(), "out is NULL");
    CHECK_ST(fd_monitor_agent_state(m, NULL, NULL), FD_ERR_NULL_POINTER);
    FdAgentState st;
    CHECK_ST(fd_monitor_agent_state(m, NULL, &st), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_agent_state_changed(m, T0, NULL, FD_AGENT_BUSY), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_queue_configured(m, T0, "q", "Q", NULL, 2, FD_MEDIA_CHAT), FD_ERR_NULL_POINTER);
    const char *with_null[] = {"a", NULL};
    CHECK_ST(fd_monitor_queue_configured(m, T0, "q", "Q", with_null, 2, FD_MEDIA_CHAT), FD_ERR_NULL_POINTER);
    CHECK_HAS(fd_last_error_message(), "products[1]");
    CHECK_ST(fd_monitor_center_status_json(m, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_presence_json(m, "center", NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_presence_pidf(m, "center", NULL, &s0), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_presence_pidf(m, "center", "d", NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_agent_pidf(m, T0, "a", NULL, 10), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_agent_pidf(m, T0, NULL, (const uint8_t *)"<x/>", 4), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_poll_event(m, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_poll_timeout(m, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_media_offered(m, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_queue_status(m, "q", FD_MEDIUM_CHAT, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_subscribe(m, noop_cb, NULL, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_monitor_push_json(m, T0, NULL), FD_ERR_NULL_POINTER);
    /* Invalid UTF-8 in every kind of string argument. */
    CHECK_ST(fd_monitor_agent_state(m, BAD_UTF8, &st), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_monitor_agent_logged_in(m, T0, "a", BAD_UTF8, NULL, 0, FD_MEDIA_CHAT), FD_ERR_INVALID_UTF8);
    const char *bad_list[] = {"ok", BAD_UTF8};
    CHECK_ST(fd_monitor_agent_logged_in(m, T0, "a", "A", bad_list, 2, FD_MEDIA_CHAT), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_monitor_interaction_queued(m, T0, "i", "q", FD_MEDIUM_CHAT, BAD_UTF8), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_monitor_push_json(m, T0, BAD_UTF8), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_monitor_presence_pidf(m, "center", BAD_UTF8, &s0), FD_ERR_INVALID_UTF8);
    /* Out-of-range enum values and malformed JSON or presentities. */
    CHECK_ST(fd_monitor_agent_logged_in(m, T0, "a", "A", NULL, 0, FD_MEDIA_CHAT), FD_OK);
    CHECK_ST(fd_monitor_agent_state_changed(m, T0, "a", 99), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_monitor_interaction_queued(m, T0, "i", "q", 42, NULL), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_monitor_queue_configured(m, T0, "q", "Q", NULL, 0, 1u << 10), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_monitor_push_json(m, T0, "{\"type\":\"coffee_break\"}"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_monitor_push_json(m, T0, "not json"), FD_ERR_INVALID_ARGUMENT);
    char *s = NULL;
    CHECK_ST(fd_monitor_presence_json(m, "planet:mars", &s), FD_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    /* Hostile PIDF (billion laughs) and non-UTF-8 bytes are refused; the agent's state is unchanged. */
    const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">]><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>&a;</note></presence>";
    CHECK_ST(fd_monitor_agent_pidf(m, T0, "a", (const uint8_t *)laughs, strlen(laughs)), FD_ERR_INVALID_ARGUMENT);
    CHECK_HAS(fd_last_error_message(), "DTD");
    CHECK_ST(fd_monitor_agent_pidf(m, T0, "a", (const uint8_t *)BAD_UTF8, strlen(BAD_UTF8)), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_monitor_watch(m, 1, "{\"kind\":\"alien\"}", "center", NULL), FD_ERR_INVALID_ARGUMENT);
    /* Wrong-state calls: events about things the monitor never saw. */
    CHECK_ST(fd_monitor_agent_state_changed(m, T0, "ghost", FD_AGENT_BUSY), FD_ERR_NOT_FOUND);
    CHECK_ST(fd_monitor_interaction_answered(m, T0, "never-queued", "a"), FD_ERR_NOT_FOUND);
    CHECK_ST(fd_monitor_queue_status(m, "no-queue", FD_MEDIUM_CHAT, &(FdQueueStatus){0}), FD_ERR_NOT_FOUND);
    CHECK_OK(fd_monitor_free(m));

    /* Broker and client arguments. */
    FdBroker *b = NULL;
    CHECK_ST(fd_broker_new(NULL, &b), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_broker_new("[1,2]", &b), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_new("{}", NULL), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_broker_new("{\"t\":{\"kind\":\"client\",\"id\":\"c\"}}", &b));
    CHECK_ST(fd_broker_handle_input(b, T0, 1, NULL, 5), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_broker_handle_input(b, T0, 999, (const uint8_t *)"x", 1), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_broker_handle_disconnect(b, T0, 999), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_broker_set_writable(b, 999, false), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_broker_agent_login(b, T0, "a", "A", 9, NULL, 0, FD_MEDIA_CHAT), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_agent_set_state(b, T0, "a", FD_AGENT_BUSY), FD_ERR_WRONG_STATE); /* not logged in */
    CHECK_ST(fd_broker_agent_invite(b, T0, "a", "c", 77, "m", NULL), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_put_product_json(b, "{\"id\":1}"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_put_profile_json(b, BAD_UTF8, "{}"), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_broker_poll_transmit(b, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_broker_subscribe(b, NULL, NULL, NULL), FD_ERR_NULL_POINTER);
    uint64_t conn = 0;
    CHECK_OK(fd_broker_open_connection(b, T0, &conn));
    CHECK_OK(fd_broker_handle_input(b, T0, conn, (const uint8_t *)"garbage", 7));
    FdTransmit t;
    CHECK_OK(fd_broker_poll_transmit(b, &t));
    CHECK(t.data.data != NULL && t.conn == conn);
    fd_bytes_free(&t.data);
    CHECK(t.data.data == NULL && t.data.len == 0);

    FdClient *c = NULL;
    CHECK_ST(fd_client_new(NULL, 1, &c), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_client_new(BAD_UTF8, 1, &c), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_client_restore("t", "{\"bad\":true}", &c), FD_ERR_INVALID_ARGUMENT);
    CHECK_OK(fd_client_new("t", 1, &c));
    /* Wrong state: no transport was asked for or is up. */
    CHECK_ST(fd_client_handle_connected(c, T0), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_disconnected(c, T0), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_input(c, T0, (const uint8_t *)"{}", 2), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_request_json(c, "{\"op\":\"fly\"}", NULL), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_client_watch(c, "nothing", NULL), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_client_send_chat(c, "i", BAD_UTF8, NULL), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_client_start_interaction(c, 5, NULL, NULL, NULL, NULL), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_client_poll_transmit(c, NULL), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_client_start(c, T0));
    bool want = false;
    CHECK_OK(fd_client_poll_connect(c, &want));
    CHECK(want);
    CHECK_OK(fd_client_handle_connected(c, T0));
    CHECK_ST(fd_client_handle_input(c, T0, (const uint8_t *)"\x01\x02", 2), FD_ERR_PROTOCOL);
    CHECK_ST(fd_client_handle_input(c, T0, NULL, 3), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_client_free(c));
    CHECK_OK(fd_broker_free(b));

    /* Static strings. */
    CHECK_HAS(fd_status_name(FD_ERR_POISONED), "FD_ERR_POISONED");
    CHECK_HAS(fd_status_name(-5), "UNKNOWN");
    CHECK_HAS(fd_version(), ".");
    CHECK(fd_now_ms() > T0 - 86400000ULL * 365 * 10);
    CHECK_ST(fd_debug_inject_panic(77), FD_ERR_INVALID_ARGUMENT);
}

/* A callback that reads the same handle and ends its own subscription: both must work. */
typedef struct {
    FdMonitor *m;
    FdSubscription *sub;
    int calls;
    FdAgentState seen;
} Reentrant;

static void reentrant_cb(void *u, const char *json) {
    Reentrant *r = (Reentrant *)u;
    (void)json;
    r->calls++;
    if (fd_monitor_agent_state(r->m, "a", &r->seen) != FD_OK) r->seen = (FdAgentState)99;
    if (r->sub != NULL) {
        if (fd_subscription_free(r->sub) != FD_OK) r->calls += 1000;
        r->sub = NULL;
    }
}

static void counting_cb(void *u, const char *json) {
    (void)json;
    (*(int *)u)++;
}

static void test_panics_and_callbacks(void) {
    FdMonitor *m = NULL;
    CHECK_OK(fd_monitor_new(&m));
    CHECK_OK(fd_monitor_agent_logged_in(m, T0, "a", "A", NULL, 0, FD_MEDIA_CHAT));
    CHECK_OK(fd_monitor_watch(m, 1, NULL, "agent:a", NULL));

    /* Re-entrant callback. */
    Reentrant r = {m, NULL, 0, FD_AGENT_LOGGED_OUT};
    CHECK_OK(fd_monitor_subscribe(m, reentrant_cb, &r, &r.sub));
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 1, "a", FD_AGENT_AVAILABLE));
    CHECK(r.calls == 1);
    CHECK(r.seen == FD_AGENT_AVAILABLE);
    CHECK(r.sub == NULL);

    /* A panic inside a callback delivery comes back as FD_ERR_PANIC; the handle stays usable. */
    int count = 0;
    FdSubscription *sub = NULL;
    CHECK_OK(fd_monitor_subscribe(m, counting_cb, &count, &sub));
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_CALLBACK));
    CHECK_ST(fd_monitor_agent_state_changed(m, T0 + 2, "a", FD_AGENT_BUSY), FD_ERR_PANIC);
    CHECK_HAS(fd_last_error_message(), "panic");
    CHECK(count == 0);
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 3, "a", FD_AGENT_AWAY));
    CHECK(count == 1);

    /* A panic inside the core: FD_ERR_PANIC, then the handle is poisoned until freed. */
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_CORE));
    CHECK_ST(fd_monitor_agent_state_changed(m, T0 + 4, "a", FD_AGENT_BUSY), FD_ERR_PANIC);
    monitor_calls(m, FD_ERR_POISONED);
    CHECK_ST(fd_monitor_subscribe(m, counting_cb, &count, &sub), FD_ERR_POISONED);
    CHECK_OK(fd_monitor_free(m));
    /* The subscription outlives its owner and is still freed exactly once. */
    CHECK_OK(fd_subscription_free(sub));
    CHECK_ST(fd_subscription_free(sub), FD_ERR_INVALID_HANDLE);

    /* Same for a broker and a client. */
    FdBroker *b = NULL;
    CHECK_OK(fd_broker_new("{}", &b));
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_CORE));
    CHECK_ST(fd_broker_handle_timeout(b, T0), FD_ERR_PANIC);
    broker_calls(b, FD_ERR_POISONED);
    CHECK_OK(fd_broker_free(b));
    FdClient *c = NULL;
    CHECK_OK(fd_client_new("t", 1, &c));
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_CORE));
    CHECK_ST(fd_client_start(c, T0), FD_ERR_PANIC);
    client_calls(c, FD_ERR_POISONED);
    CHECK_OK(fd_client_free(c));
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_NONE));
}

int main(void) {
    test_bad_handles();
    test_bad_arguments();
    test_panics_and_callbacks();
    return fd_t_finish("test_misuse");
}
