/*
 * The agent console (fd_agent_connect) and a network client against a running frontdesk-server.
 *
 *   test_agent_net ws://127.0.0.1:PORT AGENT_TOKEN CLIENT_ID CLIENT_TOKEN
 *
 * ffi/test-c.sh starts the server. The console logs in by itself, a state change made before the
 * session is up follows that log-in, the agent invites the client, the client accepts and writes, the
 * agent reads it, answers and sees the delivery receipt, its view holds the transcript once, and it
 * ends the interaction. Also covered: NULL / bad UTF-8 / bad URL / bad media / empty name, requests
 * that are not agent requests, a client handle passed as an agent, calls after free. Every wait is
 * bounded. Prints the connect and round-trip times it measured.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "test_util.h"

static const char *BAD_UTF8 = "\xff\xfe";

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Waits up to `ms` for an agent event containing `a` (and `b` if not NULL); drops the others. */
static char *agent_ev(FdAgent *g, const char *a, const char *b, int ms) {
    double end = now_us() + ms * 1e3;
    while (now_us() < end) {
        char *ev = NULL;
        if (fd_agent_wait_event(g, 200, &ev) != FD_OK) return NULL;
        if (ev == NULL) continue;
        if (getenv("FD_TEST_TRACE")) fprintf(stderr, "  agent event: %s\n", ev);
        if (strstr(ev, a) && (b == NULL || strstr(ev, b))) return ev;
        fd_string_free(ev);
    }
    fprintf(stderr, "no agent event with %s%s%s within %d ms\n", a, b ? " and " : "", b ? b : "", ms);
    return NULL;
}

static char *client_ev(FdClient *c, const char *a, const char *b, int ms) {
    double end = now_us() + ms * 1e3;
    while (now_us() < end) {
        char *ev = NULL;
        if (fd_client_wait_event(c, 200, &ev) != FD_OK) return NULL;
        if (ev == NULL) continue;
        if (getenv("FD_TEST_TRACE")) fprintf(stderr, "  client event: %s\n", ev);
        if (strstr(ev, a) && (b == NULL || strstr(ev, b))) return ev;
        fd_string_free(ev);
    }
    fprintf(stderr, "no client event with %s%s%s within %d ms\n", a, b ? " and " : "", b ? b : "", ms);
    return NULL;
}

static char *agent_answer(FdAgent *g, uint64_t id, int ms) {
    char want[64];
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)id);
    return agent_ev(g, want, NULL, ms);
}

static char *client_answer(FdClient *c, uint64_t id, int ms) {
    char want[64];
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)id);
    return client_ev(c, want, NULL, ms);
}

static void arg_misuse(const char *url, const char *token) {
    FdAgent *g = (FdAgent *)0x10; /* must be overwritten with NULL on every error */
    CHECK_ST(fd_agent_connect(NULL, token, 1, "Ann", "[\"chat\"]", &g), FD_ERR_NULL_POINTER);
    CHECK(g == NULL);
    CHECK_ST(fd_agent_connect(url, NULL, 1, "Ann", "[\"chat\"]", &g), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_connect(url, token, 1, NULL, "[\"chat\"]", &g), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_connect(url, token, 1, "Ann", NULL, &g), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_connect(url, token, 1, "Ann", "[\"chat\"]", NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_connect(BAD_UTF8, token, 1, "Ann", "[\"chat\"]", &g), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_agent_connect(url, token, 1, BAD_UTF8, "[\"chat\"]", &g), FD_ERR_INVALID_UTF8);
    const char *bad_media[] = {"", "[]", "chat", "[\"fax\"]", "{\"skills\":[\"router\"]}", "{\"media\":[]}"};
    for (size_t i = 0; i < sizeof bad_media / sizeof bad_media[0]; i++) {
        g = (FdAgent *)0x10;
        CHECK_ST(fd_agent_connect(url, token, 1, "Ann", bad_media[i], &g), FD_ERR_INVALID_ARGUMENT);
        CHECK(g == NULL);
    }
    CHECK_ST(fd_agent_connect(url, token, 1, "  ", "[\"chat\"]", &g), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_connect("http://127.0.0.1:1", token, 1, "Ann", "[\"chat\"]", &g), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_connect("ws://h:0", token, 1, "Ann", "[\"chat\"]", &g), FD_ERR_INVALID_ARGUMENT);
    char *ev = (char *)"untouched";
    uint64_t id = 0;
    CHECK_ST(fd_agent_wait_event(NULL, 0, &ev), FD_ERR_NULL_POINTER);
    CHECK(ev == NULL);
    CHECK_ST(fd_agent_poll_event((FdAgent *)0x7fff0, &ev), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_agent_view_json(NULL, &ev), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_set_state(NULL, FD_AGENT_AVAILABLE, &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_accept(NULL, "i1", &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_send_chat(NULL, "i1", "x", &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_end(NULL, "i1", &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_transfer(NULL, "i1", "bo", NULL, NULL, &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_wrap_up(NULL, "i1", "resolved", NULL, &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_request_json(NULL, "{\"op\":\"get_seat\"}", &id), FD_ERR_NULL_POINTER);
    CHECK_OK(fd_agent_free(NULL));
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ws://HOST:PORT AGENT_TOKEN CLIENT_ID CLIENT_TOKEN\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *atok = argv[2], *client_id = argv[3], *ctok = argv[4];
    arg_misuse(url, atok);

    uint64_t id = 0, early = 0;
    char *ev = NULL, *view = NULL;
    char inv[128] = "", ix[128] = "";
    FdAgent *g = NULL;
    double t0 = now_us();
    CHECK_OK(fd_agent_connect(url, atok, 4242, "Ann", "{\"media\":[\"chat\",\"voice\"],\"skills\":[\"router\"]}", &g));
    /* Made before the session is up: it waits for the automatic log-in and follows it. */
    CHECK_OK(fd_agent_set_state(g, FD_AGENT_AVAILABLE, &early));
    ev = agent_ev(g, "\"type\":\"seated\"", NULL, 20000);
    CHECK_HAS(ev, "\"name\":\"Ann\"");
    printf("fd_agent_connect to seated: %.1f ms\n", (now_us() - t0) / 1e3);
    fd_string_free(ev);
    ev = agent_answer(g, early, 20000);
    CHECK_HAS(ev, "\"ok\":{\"kind\":\"done\"}");
    fd_string_free(ev);
    CHECK_OK(fd_agent_view_json(g, &view));
    CHECK_HAS(view, "\"state\":\"available\"");
    CHECK_HAS(view, "\"agent\":\"");
    fd_string_free(view);

    /* Misuse on a live handle. */
    CHECK_ST(fd_agent_request_json(g, "{\"op\":", &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_request_json(g, "{\"op\":\"get_orders\"}", &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_request_json(g, BAD_UTF8, &id), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_agent_set_state(g, 99, &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_send_chat(g, NULL, "x", &id), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_agent_accept(g, BAD_UTF8, &id), FD_ERR_INVALID_UTF8);
    /* A refused request is answered as an error, and the session goes on. */
    CHECK_OK(fd_agent_send_chat(g, "no-such-interaction", "x", &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"err\"");
    fd_string_free(ev);

    /* Round trips (center_status), for the figures. */
    enum { RT = 20 };
    t0 = now_us();
    for (int i = 0; i < RT; i++) {
        CHECK_OK(fd_agent_request_json(g, "{\"op\":\"center_status\"}", &id));
        ev = agent_answer(g, id, 20000);
        CHECK_HAS(ev, "\"kind\":\"center_status\"");
        fd_string_free(ev);
    }
    printf("agent request round trip (center_status, loopback): %.0f us\n", (now_us() - t0) / RT);

    /* A customer on the network too; the agent invites it. */
    FdClient *c = NULL;
    CHECK_OK(fd_client_connect(url, ctok, 77, &c));
    ev = client_ev(c, "\"type\":\"synced\"", NULL, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"invite\",\"client\":\"%s\",\"medium\":\"chat\",\"message\":\"Can I help?\"}", client_id);
    CHECK_OK(fd_agent_request_json(g, req, &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"kind\":\"invitation\"");
    fd_string_free(ev);
    ev = client_ev(c, "\"ev\":\"invitation\"", "\"state\":\"pending\"", 20000);
    CHECK(ev != NULL && json_str(ev, "\"data\"", "id", inv, sizeof inv));
    fd_string_free(ev);
    CHECK_OK(fd_client_respond_invitation(c, inv, true, &id));
    ev = client_answer(c, id, 20000);
    CHECK(ev != NULL && json_str(ev, "\"kind\":\"invitation\"", "interaction", ix, sizeof ix));
    fd_string_free(ev);
    ev = agent_ev(g, "\"ev\":\"connected\"", ix, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);

    /* Chat both ways, with receipts. */
    CHECK_OK(fd_client_send_chat(c, ix, "Hi Ann, the light keeps blinking.", &id));
    ev = agent_ev(g, "\"ev\":\"chat\"", "keeps blinking", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    ev = client_ev(c, "\"ev\":\"chat_delivered\"", NULL, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_send_chat(g, ix, "Unplug it for ten seconds, please.", &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"kind\":\"chat\"");
    uint64_t agent_seq = 0;
    if (ev != NULL && strstr(ev, "\"seq\":") != NULL) agent_seq = strtoull(strstr(ev, "\"seq\":") + 6, NULL, 10);
    CHECK(agent_seq > 0);
    fd_string_free(ev);
    ev = client_ev(c, "\"ev\":\"chat\"", "ten seconds", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    ev = agent_ev(g, "\"ev\":\"chat_delivered\"", ix, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_view_json(g, &view));
    CHECK_HAS(view, "\"state\":\"busy\"");
    CHECK_HAS(view, "keeps blinking");
    CHECK_HAS(view, "ten seconds");
    CHECK_HAS(view, "\"delivered\":[[\"");
    /* Each message once in the transcript. */
    if (view != NULL) {
        const char *first = strstr(view, "keeps blinking");
        CHECK(first != NULL && strstr(first + 1, "keeps blinking") == NULL);
    }
    fd_string_free(view);

    /* Typing both ways: soft state, as `typing` events, refused for an interaction not the caller's. */
    bool sent = false;
    CHECK_OK(fd_client_send_typing(c, fd_now_ms(), ix, true, &sent));
    CHECK(sent);
    ev = agent_ev(g, "\"type\":\"typing\"", "\"on\":true", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_send_typing(g, ix, true, &sent));
    CHECK(sent);
    ev = client_ev(c, "\"type\":\"typing\"", "\"on\":true", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_send_typing(g, ix, false, &sent));
    ev = client_ev(c, "\"type\":\"typing\"", "\"on\":false", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_ST(fd_client_send_typing(c, fd_now_ms(), "ix-not-mine", true, &sent), FD_ERR_NOT_FOUND);
    CHECK_ST(fd_agent_send_typing(g, "ix-not-mine", true, NULL), FD_ERR_NOT_FOUND);

    /* Read marks both ways, as sequenced `chat_read` events. */
    CHECK_OK(fd_client_mark_read(c, ix, agent_seq, &id));
    ev = client_answer(c, id, 20000);
    CHECK_HAS(ev, "\"kind\":\"done\"");
    fd_string_free(ev);
    ev = agent_ev(g, "\"ev\":\"chat_read\"", ix, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_mark_read(g, ix, 1, &id));
    ev = client_ev(c, "\"ev\":\"chat_read\"", NULL, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_OK(fd_agent_view_json(g, &view));
    CHECK_HAS(view, "\"read\":{\"");
    fd_string_free(view);

    /* Typed end; then the interaction is over on both sides. */
    CHECK_OK(fd_agent_end(g, ix, &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"state\":\"ended\"");
    fd_string_free(ev);
    ev = client_ev(c, "\"ev\":\"interaction\"", "\"state\":\"ended\"", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    /* Wrap-up after the end, stored on the history record; a transfer names one target, and only
       what the agent holds is transferred. */
    CHECK_OK(fd_agent_wrap_up(g, ix, "resolved", "fixed by a reboot", &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "Wrap-up: resolved. fixed by a reboot");
    fd_string_free(ev);
    CHECK_ST(fd_agent_transfer(g, ix, "bo", "support", NULL, &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_agent_transfer(g, ix, NULL, NULL, NULL, &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_OK(fd_agent_transfer(g, ix, NULL, "support", "over to you", &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"forbidden\"");
    fd_string_free(ev);
    /* Accepting something never offered is refused by the broker, as that request's answer. */
    CHECK_OK(fd_agent_accept(g, ix, &id));
    ev = agent_answer(g, id, 20000);
    CHECK_HAS(ev, "\"err\"");
    fd_string_free(ev);
    /* Whatever is left, without waiting. */
    while (fd_agent_poll_event(g, &ev) == FD_OK && ev != NULL) fd_string_free(ev);

    /* A client handle is not an agent handle. */
    CHECK_ST(fd_agent_set_state((FdAgent *)c, FD_AGENT_AWAY, &id), FD_ERR_INVALID_HANDLE);
    CHECK_OK(fd_client_free(c));
    CHECK_OK(fd_agent_free(g));
    CHECK_ST(fd_agent_free(g), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_agent_view_json(g, &view), FD_ERR_INVALID_HANDLE);
    CHECK(view == NULL);
    return fd_t_finish("test_agent_net");
}
