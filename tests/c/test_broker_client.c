/* A broker and a client through the C ABI, wired by an in-process transport written in C. */
#include "test_util.h"

static const char *TOKENS =
    "{\"tok-alice\":{\"kind\":\"client\",\"id\":\"alice\"},\"tok-ann\":{\"kind\":\"agent\",\"id\":[\"ann\",\"agent\"]}}";
static const char *ROUTER[] = {"router"};

typedef struct {
    int events;
    int chats_from_client;
    int offered;
    char last[4096];
} Console;

static void on_broker(void *user_data, const char *json) {
    Console *c = (Console *)user_data;
    c->events++;
    if (strstr(json, "\"event\":\"chat\"") && strstr(json, "hello from C")) c->chats_from_client++;
    if (strstr(json, "\"event\":\"offered\"")) c->offered++;
    snprintf(c->last, sizeof c->last, "%s", json);
}

/* Drains the client's events; returns 1 if one contains `needle` (and copies it to buf). */
static int client_saw(FdClient *c, const char *needle, char *buf, size_t n) {
    int found = 0;
    char *ev = NULL;
    for (;;) {
        CHECK_OK(fd_client_poll_event(c, &ev));
        if (ev == NULL) break;
        if (!found && strstr(ev, needle)) {
            found = 1;
            if (buf) snprintf(buf, n, "%s", ev);
        }
        fd_string_free(ev);
    }
    return found;
}

static void seed(FdBroker *b) {
    CHECK_OK(fd_broker_configure_queue(b, T0, "support", "Support", ROUTER, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_CALLBACK));
    CHECK_OK(fd_broker_put_product_json(b, "{\"id\":\"router\",\"name\":\"FastNet Router\",\"description\":\"A router\"}"));
    CHECK_OK(fd_broker_put_record_json(b,
        "{\"id\":\"h1\",\"client\":\"alice\",\"started_at\":1795500000000,\"ended_at\":1795500600000,"
        "\"product\":\"router\",\"agent\":\"ann\",\"medium\":\"voice\",\"direction\":\"inbound\","
        "\"outcome\":\"completed\",\"summary\":\"alice asked about router\"}"));
    CHECK_OK(fd_broker_put_order_json(b,
        "{\"id\":\"o1\",\"client\":\"alice\",\"product\":\"router\",\"status\":\"placed\",\"history\":[],"
        "\"delivery\":{\"address\":\"1 Main St\",\"window\":null,\"instructions\":null},\"revision\":1}"));
    CHECK_OK(fd_broker_put_profile_json(b, "alice", "{}"));
    CHECK_OK(fd_broker_agent_login(b, T0, "ann", "Ann", FD_ROLE_AGENT, ROUTER, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_CALLBACK));
    CHECK_OK(fd_broker_agent_set_state(b, T0, "ann", FD_AGENT_AVAILABLE));
}

int main(void) {
    uint64_t now = T0;
    FdBroker *b = NULL;
    CHECK_OK(fd_broker_new(TOKENS, &b));
    seed(b);
    Console console;
    memset(&console, 0, sizeof console);
    FdSubscription *bsub = NULL;
    CHECK_OK(fd_broker_subscribe(b, on_broker, &console, &bsub));

    FdClient *c = NULL;
    CHECK_OK(fd_client_new("tok-alice", 1, &c));
    CHECK_OK(fd_client_start(c, now));
    Link link = {b, c, 0, 0};
    pump(&link, now);
    bool connected = false;
    CHECK_OK(fd_client_is_connected(c, &connected));
    CHECK(connected);
    CHECK(client_saw(c, "\"type\":\"synced\"", NULL, 0));

    /* History: request, answer as a completed event, and the view. */
    uint64_t rid = 0;
    char ev[8192];
    CHECK_OK(fd_client_get_history(c, &rid));
    CHECK(rid > 0);
    pump(&link, now);
    CHECK(client_saw(c, "\"type\":\"completed\"", ev, sizeof ev));
    CHECK_HAS(ev, "alice asked about router");
    char *view = NULL;
    CHECK_OK(fd_client_view_json(c, &view));
    CHECK_HAS(view, "\"id\":\"h1\"");
    CHECK_HAS(view, "\"id\":\"o1\"");
    fd_string_free(view);

    /* An agent invites, the client accepts, both chat. */
    char *inv = NULL;
    CHECK_OK(fd_broker_agent_invite(b, now += 1000, "ann", "alice", FD_MEDIUM_CHAT, "Can I help?", &inv));
    char inv_id[128] = "";
    CHECK(json_str(inv, "", "id", inv_id, sizeof inv_id));
    fd_string_free(inv);
    pump(&link, now);
    CHECK(client_saw(c, "Can I help?", NULL, 0));
    CHECK_OK(fd_client_respond_invitation(c, inv_id, true, &rid));
    pump(&link, now += 1000);
    CHECK(client_saw(c, "\"type\":\"completed\"", ev, sizeof ev));
    CHECK_HAS(ev, "\"ok\"");
    CHECK_OK(fd_client_view_json(c, &view));
    char interaction[128] = "";
    CHECK(json_str(view, "\"interactions\":[", "id", interaction, sizeof interaction));
    fd_string_free(view);
    CHECK_OK(fd_client_send_chat(c, interaction, "hello from C", &rid));
    pump(&link, now += 1000);
    CHECK(console.chats_from_client == 1);
    /* Typed reads: profile, orders, products, a transcript page. */
    CHECK_OK(fd_client_get_profile(c, &rid));
    pump(&link, now);
    CHECK(client_saw(c, "\"kind\":\"profile\"", NULL, 0));
    CHECK_OK(fd_client_get_orders(c, &rid));
    pump(&link, now);
    CHECK(client_saw(c, "\"kind\":\"orders\"", NULL, 0));
    CHECK_OK(fd_client_get_products(c, NULL));
    pump(&link, now);
    CHECK(client_saw(c, "FastNet Router", NULL, 0));
    CHECK_OK(fd_client_get_transcript(c, interaction, 2, 1, &rid));
    pump(&link, now);
    CHECK(client_saw(c, "\"kind\":\"transcript\"", ev, sizeof ev));
    CHECK_HAS(ev, "hello from C");
    /* A chat is no call: signalling and ICE servers are refused as invalid, answered as failed. */
    CHECK_OK(fd_client_signal_json(c, interaction, "{\"kind\":\"end_of_candidates\"}", &rid));
    pump(&link, now);
    CHECK(client_saw(c, "not a call", NULL, 0));
    CHECK_ST(fd_client_signal_json(c, interaction, "{\"kind\":\"warp\"}", &rid), FD_ERR_INVALID_ARGUMENT);
    CHECK_OK(fd_client_ice_servers(c, interaction, &rid));
    pump(&link, now);
    /* A device to wake while the app is backgrounded; an unknown platform is refused at once. */
    CHECK_OK(fd_client_register_push(c, "fcm", "fcm-token-from-c", &rid));
    pump(&link, now);
    CHECK(client_saw(c, "\"kind\":\"done\"", NULL, 0));
    CHECK_ST(fd_client_register_push(c, "carrier-pigeon", "t", &rid), FD_ERR_INVALID_ARGUMENT);
    CHECK_OK(fd_client_unregister_push(c, "fcm-token-from-c", &rid));
    pump(&link, now);
    CHECK(client_saw(c, "\"kind\":\"done\"", NULL, 0));
    /* Email where no queue takes it: a typed refusal, the session goes on. */
    CHECK_OK(fd_client_send_email(c, "Router", "It reboots", NULL, &rid));
    pump(&link, now);
    CHECK(client_saw(c, "no queue takes email", NULL, 0));
    char *msg = NULL;
    CHECK_OK(fd_broker_agent_send_chat(b, now += 1000, "ann", interaction, "hello from Ann", &msg));
    CHECK_HAS(msg, "hello from Ann");
    fd_string_free(msg);
    pump(&link, now);
    CHECK(client_saw(c, "hello from Ann", NULL, 0));
    /* Call signalling: a chat is no call, and malformed signals are refused as such. */
    CHECK_ST(fd_broker_agent_signal(b, now, "ann", interaction, "{\"kind\":\"hang_up\"}"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_agent_signal(b, now, "ann", interaction, "{\"kind\":\"teleport\"}"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_agent_signal(b, now, "ann", interaction, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_broker_agent_signal(b, now, "bo", interaction, "{\"kind\":\"end_of_candidates\"}"), FD_ERR_FORBIDDEN);
    CHECK_OK(fd_broker_agent_end(b, now += 1000, "ann", interaction));
    CHECK_ST(fd_broker_agent_end(b, now, "ann", interaction), FD_ERR_FORBIDDEN);
    pump(&link, now);

    /* The client starts an interaction; the broker offers it to ann, who declines, then accepts a second. */
    CHECK_OK(fd_broker_agent_set_state(b, now, "ann", FD_AGENT_AVAILABLE));
    CHECK_OK(fd_client_start_interaction(c, FD_MEDIUM_CHAT, "router", NULL, "my router blinks", &rid));
    pump(&link, now += 1000);
    CHECK(console.offered >= 1);
    char offered[128] = "";
    CHECK(json_str(console.last, "\"offered\"", "id", offered, sizeof offered));
    CHECK_ST(fd_broker_agent_accept(b, now, "ann", "no-such-interaction", NULL), FD_ERR_WRONG_STATE);
    CHECK_OK(fd_broker_agent_decline(b, now, "ann", offered));
    pump(&link, now);
    CHECK_OK(fd_client_end_interaction(c, offered, &rid));
    pump(&link, now += 1000);
    CHECK_OK(fd_client_start_interaction(c, FD_MEDIUM_VOICE, NULL, "support", NULL, &rid));
    pump(&link, now += 1000);
    CHECK(json_str(console.last, "\"offered\"", "id", offered, sizeof offered));
    char *li = NULL;
    CHECK_OK(fd_broker_agent_accept(b, now, "ann", offered, &li));
    CHECK_HAS(li, "\"state\":\"connected\"");
    fd_string_free(li);
    CHECK_OK(fd_broker_agent_end(b, now += 1000, "ann", offered));
    pump(&link, now);

    /* Callbacks with a host dialer: "call me now" at a number; ann's phone is rung first, the
       dialer's progress comes back, a report on another dial is refused, the end writes a record. */
    CHECK_OK(fd_broker_set_dialer(b, true));
    CHECK_OK(fd_client_request_callback(c, "0301234", 0, NULL, NULL, &rid));
    pump(&link, now);
    CHECK(client_saw(c, "number:", NULL, 0));
    CHECK_ST(fd_broker_agent_set_phone(b, now, "ann", "tel:123"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_agent_set_phone(b, now, NULL, "sip:ann@127.0.0.1"), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_broker_agent_set_phone(b, now, "ann", "sip:ann@127.0.0.1:5070"));
    CHECK_OK(fd_broker_agent_set_state(b, now, "ann", FD_AGENT_AVAILABLE));
    CHECK_OK(fd_client_request_callback(c, "+49 30 123456", 0, "router", "call me", &rid));
    pump(&link, now += 1000);
    CHECK(json_str(console.last, "\"offered\"", "id", offered, sizeof offered));
    CHECK_OK(fd_broker_agent_accept(b, now, "ann", offered, &li));
    CHECK_HAS(li, "\"phase\":\"dialing_agent\"");
    fd_string_free(li);
    char *dials = NULL;
    CHECK_OK(fd_broker_take_dials(b, now, &dials));
    CHECK_HAS(dials, "\"agent_phone\":\"sip:ann@127.0.0.1:5070\"");
    CHECK_HAS(dials, "\"number\":\"+4930123456\"");
    CHECK_HAS(dials, "\"dial\":1");
    fd_string_free(dials);
    CHECK_OK(fd_broker_take_dials(b, now, &dials));
    CHECK(strcmp(dials, "[]") == 0);
    fd_string_free(dials);
    CHECK_OK(fd_broker_dial_progress(b, now, offered, 1, "{\"progress\":\"customer_ringing\"}"));
    CHECK_ST(fd_broker_dial_progress(b, now, offered, 1, "{\"progress\":\"teleported\"}"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_dial_progress(b, now, offered, 7, "{\"progress\":\"connected\"}"), FD_ERR_WRONG_STATE);
    CHECK_OK(fd_broker_dial_progress(b, now, offered, 1, "{\"progress\":\"connected\"}"));
    pump(&link, now);
    CHECK(client_saw(c, "\"phase\":\"connected\"", NULL, 0));
    CHECK_OK(fd_broker_dial_progress(b, now += 61000, offered, 1, "{\"progress\":\"ended\",\"by\":\"agent\"}"));
    pump(&link, now);
    CHECK(client_saw(c, "callback to +4930123456, 1 min 1 s, hung up by Ann", NULL, 0));
    CHECK_OK(fd_broker_set_dialer(b, false));

    /* The client invites the agent; the agent declines. */
    CHECK_OK(fd_client_invite_agent(c, "ann", FD_MEDIUM_VOICE, "call me", &rid));
    pump(&link, now += 1000);
    char cinv[128] = "";
    CHECK(json_str(console.last, "invitation_received", "id", cinv, sizeof cinv));
    CHECK_OK(fd_broker_agent_respond_invitation(b, now, "ann", cinv, false, &inv));
    CHECK_HAS(inv, "declined");
    fd_string_free(inv);
    pump(&link, now);

    /* Other requests, generic JSON requests, presence watching and status publishing. */
    CHECK_OK(fd_client_watch(c, "agent:ann", &rid));
    CHECK_OK(fd_client_set_status_json(c, "{\"activity\":\"online\",\"medium\":null,\"note\":null}", &rid));
    CHECK_OK(fd_client_get_center_status(c, NULL));
    CHECK_OK(fd_client_request_json(c, "{\"op\":\"get_orders\"}", &rid));
    pump(&link, now += 1000);
    CHECK(client_saw(c, "\"kind\":\"orders\"", NULL, 0));
    CHECK_OK(fd_broker_set_order_status(b, now, "o1", "shipped"));
    CHECK_ST(fd_broker_set_order_status(b, now, "o1", "lost"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_set_order_status(b, now, "o9", "shipped"), FD_ERR_NOT_FOUND);
    CHECK_OK(fd_broker_center_event_json(b, now, "{\"type\":\"queue_configured\",\"queue\":\"sales\",\"name\":\"Sales\",\"products\":[],\"media\":[\"chat\"]}"));
    pump(&link, now);
    CHECK(client_saw(c, "shipped", NULL, 0));

    /* Status reads on the broker's monitor. */
    FdAgentState st = FD_AGENT_LOGGED_OUT;
    CHECK_OK(fd_broker_agent_state(b, "ann", &st));
    CHECK(st != FD_AGENT_LOGGED_OUT);
    FdQueueStatus q;
    CHECK_OK(fd_broker_queue_status(b, "support", FD_MEDIUM_CHAT, &q));
    CHECK(q.agents_staffed == 1);
    CHECK_ST(fd_broker_queue_status(b, "nope", FD_MEDIUM_CHAT, &q), FD_ERR_NOT_FOUND);
    CHECK(q.open && q.until_ms == 0);
    /* Business hours: T0 is a Wednesday 09:00 UTC, so 10:00-17:00 is closed until 10:00. */
    CHECK_ST(fd_broker_set_queue_hours(b, now, "support", "Mon-Fri 17:00-09:00"), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_broker_set_queue_hours(b, now, "nope", NULL), FD_ERR_NOT_FOUND);
    CHECK_OK(fd_broker_set_queue_hours(b, now, "support", "Mon-Fri 10:00-17:00 Z"));
    CHECK_OK(fd_broker_queue_status(b, "support", FD_MEDIUM_CHAT, &q));
    CHECK(!q.open && !q.offered && q.until_ms == T0 + 3600000ULL);
    CHECK_OK(fd_broker_set_queue_hours(b, now, "support", NULL));
    CHECK_OK(fd_broker_queue_status(b, "support", FD_MEDIUM_CHAT, &q));
    CHECK(q.open);
    char *json = NULL;
    CHECK_OK(fd_broker_center_status_json(b, &json));
    CHECK_HAS(json, "\"queue\":\"sales\"");
    fd_string_free(json);
    CHECK_OK(fd_broker_presence_json(b, "agent:ann", &json));
    CHECK_HAS(json, "agent:ann");
    fd_string_free(json);
    CHECK_OK(fd_broker_set_writable(b, link.conn, true));

    /* Timers on both sides. */
    uint64_t at = 0;
    CHECK_OK(fd_broker_poll_timeout(b, &at));
    if (at != FD_NO_TIMEOUT) CHECK_OK(fd_broker_handle_timeout(b, at));
    CHECK_OK(fd_client_poll_timeout(c, &at));
    CHECK(at != FD_NO_TIMEOUT);
    CHECK_OK(fd_client_handle_timeout(c, at));
    pump(&link, at);

    /* The network drops; the client reconnects by itself and resumes its session. */
    CHECK_OK(fd_broker_handle_disconnect(b, now, link.conn));
    CHECK_OK(fd_client_handle_disconnected(c, now));
    link.up = 0;
    CHECK_ST(fd_client_handle_disconnected(c, now), FD_ERR_WRONG_STATE);
    CHECK(client_saw(c, "\"type\":\"disconnected\"", NULL, 0));
    CHECK_OK(fd_client_poll_timeout(c, &at));
    CHECK_OK(fd_client_handle_timeout(c, at));
    pump(&link, at);
    CHECK(client_saw(c, "\"resumed\":true", NULL, 0));

    /* Saving and restoring the client (an app restart), and a new token. */
    char *saved = NULL;
    CHECK_OK(fd_client_save_json(c, &saved));
    FdClient *c2 = NULL;
    CHECK_OK(fd_client_restore("tok-alice", saved, &c2));
    fd_string_free(saved);
    CHECK_OK(fd_client_set_token(c2, "tok-alice"));
    CHECK_OK(fd_client_free(c2));

    /* A client callback sees what a poll would. */
    FdSubscription *csub = NULL;
    CHECK_OK(fd_client_subscribe(c, on_broker, &console, &csub));
    int before = console.events;
    CHECK_OK(fd_broker_agent_invite(b, now, "ann", "alice", FD_MEDIUM_CHAT, "again?", NULL));
    pump(&link, now);
    CHECK(console.events > before);
    CHECK_OK(fd_subscription_free(csub));

    CHECK_OK(fd_client_close(c, now));
    CHECK_OK(fd_broker_handle_disconnect(b, now, link.conn));
    CHECK_OK(fd_broker_agent_logout(b, now, "ann"));
    /* Not seated any more: the broker answers conflict ("log in first"), FD_ERR_WRONG_STATE. */
    CHECK_ST(fd_broker_agent_logout(b, now, "ann"), FD_ERR_WRONG_STATE);
    char *bev = NULL;
    CHECK_OK(fd_subscription_free(bsub));
    CHECK_OK(fd_broker_agent_login(b, now, "ann", "Ann", FD_ROLE_SUPERVISOR, NULL, 0, FD_MEDIA_CHAT));
    CHECK_OK(fd_broker_poll_event(b, &bev));
    fd_string_free(bev);
    CHECK_OK(fd_client_free(c));
    CHECK_OK(fd_broker_free(b));
    return fd_t_finish("test_broker_client");
}
