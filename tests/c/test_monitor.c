/* The status monitor through the C ABI: typed pushes and reads, JSON reads, polling and callbacks. */
#include <string.h>
#include "test_util.h"

static const char *SKILLS[] = {"router", "phone"};

typedef struct {
    int calls;
    int notifies;
} Seen;

static void on_event(void *user_data, const char *json) {
    Seen *s = (Seen *)user_data;
    s->calls++;
    if (strstr(json, "\"type\":\"notify\"") != NULL) s->notifies++;
}

static void seed(FdMonitor *m) {
    CHECK_OK(fd_monitor_queue_configured(m, T0, "support", "Support", SKILLS, 2, FD_MEDIA_CHAT | FD_MEDIA_VOICE));
    CHECK_OK(fd_monitor_agent_logged_in(m, T0, "ann", "Ann", SKILLS, 2, FD_MEDIA_CHAT | FD_MEDIA_VOICE));
}

static void test_push_and_read(void) {
    FdMonitor *m = NULL;
    CHECK_OK(fd_monitor_new(&m));
    CHECK(m != NULL);
    seed(m);

    FdAgentState st = FD_AGENT_AVAILABLE;
    CHECK_OK(fd_monitor_agent_state(m, "ann", &st));
    CHECK(st == FD_AGENT_AWAY);
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 1000, "ann", FD_AGENT_AVAILABLE));
    CHECK_OK(fd_monitor_agent_state(m, "ann", &st));
    CHECK(st == FD_AGENT_AVAILABLE);
    CHECK_OK(fd_monitor_agent_state(m, "nobody", &st));
    CHECK(st == FD_AGENT_LOGGED_OUT);

    FdQueueStatus q;
    memset(&q, 0, sizeof q);
    CHECK_OK(fd_monitor_queue_status(m, "support", FD_MEDIUM_CHAT, &q));
    CHECK(q.agents_available == 1 && q.agents_staffed == 1 && q.holding == 0 && q.offered);

    CHECK_OK(fd_monitor_interaction_queued(m, T0 + 2000, "i1", "support", FD_MEDIUM_CHAT, "alice"));
    CHECK_OK(fd_monitor_interaction_queued(m, T0 + 2000, "i2", "support", FD_MEDIUM_VOICE, NULL));
    CHECK_OK(fd_monitor_queue_status(m, "support", FD_MEDIUM_CHAT, &q));
    CHECK(q.holding == 1);
    CHECK_OK(fd_monitor_interaction_answered(m, T0 + 5000, "i1", "ann"));
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 5000, "ann", FD_AGENT_BUSY));
    CHECK_OK(fd_monitor_interaction_abandoned(m, T0 + 6000, "i2"));
    CHECK_OK(fd_monitor_interaction_ended(m, T0 + 60000, "i1"));
    CHECK_OK(fd_monitor_queue_status(m, "support", FD_MEDIUM_CHAT, &q));
    CHECK(q.holding == 0 && q.agents_available == 0);

    uint32_t mask = 0;
    CHECK_OK(fd_monitor_media_offered(m, &mask));
    CHECK((mask & FD_MEDIA_CHAT) != 0);

    char *json = NULL;
    CHECK_OK(fd_monitor_center_status_json(m, &json));
    CHECK_HAS(json, "\"queue\":\"support\"");
    fd_string_free(json);
    CHECK_OK(fd_monitor_presence_json(m, "agent:ann", &json));
    CHECK_HAS(json, "\"entity\":\"agent:ann\"");
    CHECK_HAS(json, "on-the-phone");
    fd_string_free(json);
    CHECK_OK(fd_monitor_presence_pidf(m, "agent:ann", "acd.example", &json));
    CHECK_HAS(json, "entity=\"pres:agent-ann@acd.example\"");
    CHECK_HAS(json, "<rpid:on-the-phone/>");
    fd_string_free(json);
    /* The ACD publishes PIDF: open with no activity means available. */
    const char *pidf = "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:ann@acd\"><tuple id=\"t\"><status><basic>open</basic></status></tuple></presence>";
    CHECK_OK(fd_monitor_agent_pidf(m, T0 + 65000, "ann", (const uint8_t *)pidf, strlen(pidf)));
    CHECK_OK(fd_monitor_agent_state(m, "ann", &st));
    CHECK(st == FD_AGENT_AVAILABLE);

    CHECK_OK(fd_monitor_push_json(m, T0 + 70000, "{\"type\":\"agent_state_changed\",\"agent\":\"ann\",\"state\":\"after_work\"}"));
    CHECK_OK(fd_monitor_agent_state(m, "ann", &st));
    CHECK(st == FD_AGENT_AFTER_WORK);
    CHECK_OK(fd_monitor_client_status_json(m, T0, "alice", "{\"activity\":\"online\",\"medium\":\"chat\",\"note\":\"hi\"}"));
    CHECK_OK(fd_monitor_presence_json(m, "client:alice", &json));
    CHECK_HAS(json, "\"note\":\"hi\"");
    fd_string_free(json);

    CHECK_OK(fd_monitor_agent_logged_out(m, T0 + 80000, "ann"));
    CHECK_OK(fd_monitor_agent_state(m, "ann", &st));
    CHECK(st == FD_AGENT_LOGGED_OUT);
    CHECK_OK(fd_monitor_free(m));
}

static void test_poll_and_watch(void) {
    FdMonitor *m = NULL;
    CHECK_OK(fd_monitor_new(&m));
    seed(m);
    char *doc = NULL;
    CHECK_OK(fd_monitor_watch(m, 7, NULL, "agent:ann", &doc));
    CHECK_HAS(doc, "agent:ann");
    fd_string_free(doc);
    CHECK_OK(fd_monitor_watch(m, 8, "{\"kind\":\"client\",\"id\":\"alice\"}", "center", NULL));

    char *ev = NULL;
    /* Drain what seeding produced, then a burst of changes coalesces into one notification. */
    do {
        CHECK_OK(fd_monitor_poll_event(m, &ev));
        fd_string_free(ev);
    } while (ev != NULL);
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 1, "ann", FD_AGENT_AVAILABLE));
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 2, "ann", FD_AGENT_BUSY));
    int agent_notes = 0;
    for (;;) {
        CHECK_OK(fd_monitor_poll_event(m, &ev));
        if (ev == NULL) break;
        if (strstr(ev, "\"presentity\":\"agent:ann\"")) {
            agent_notes++;
            CHECK_HAS(ev, "\"watchers\":[7]");
        }
        fd_string_free(ev);
    }
    CHECK(agent_notes == 1);

    CHECK_OK(fd_monitor_unwatch(m, 7, "agent:ann"));
    CHECK_OK(fd_monitor_unwatch(m, 8, "center"));

    /* Timers: a waiting interaction schedules a refresh. */
    uint64_t at = 0;
    CHECK_OK(fd_monitor_poll_timeout(m, &at));
    CHECK(at == FD_NO_TIMEOUT);
    CHECK_OK(fd_monitor_interaction_queued(m, T0 + 10, "i9", "support", FD_MEDIUM_CHAT, NULL));
    CHECK_OK(fd_monitor_poll_timeout(m, &at));
    CHECK(at != FD_NO_TIMEOUT && at > T0);
    CHECK_OK(fd_monitor_handle_timeout(m, at));
    CHECK_OK(fd_monitor_free(m));
}

static void test_callbacks(void) {
    FdMonitor *m = NULL;
    CHECK_OK(fd_monitor_new(&m));
    seed(m);
    CHECK_OK(fd_monitor_watch(m, 1, NULL, "agent:ann", NULL));
    Seen seen = {0, 0};
    FdSubscription *sub = NULL;
    CHECK_OK(fd_monitor_subscribe(m, on_event, &seen, &sub));
    CHECK(sub != NULL);
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 1, "ann", FD_AGENT_AVAILABLE));
    CHECK(seen.notifies >= 1);
    int before = seen.calls;
    CHECK_OK(fd_subscription_free(sub));
    CHECK_ST(fd_subscription_free(sub), FD_ERR_INVALID_HANDLE);
    CHECK_OK(fd_monitor_agent_state_changed(m, T0 + 2, "ann", FD_AGENT_BUSY));
    CHECK(seen.calls == before);
    /* Without callbacks the event waits for a poll. */
    char *ev = NULL;
    CHECK_OK(fd_monitor_poll_event(m, &ev));
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_monitor_free(m));
}

int main(void) {
    test_push_and_read();
    test_poll_and_watch();
    test_callbacks();
    return fd_t_finish("test_monitor");
}
