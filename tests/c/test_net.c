/*
 * The network client (fd_client_connect) against a running frontdesk-server, and its misuse.
 *
 *   test_net ws://127.0.0.1:PORT CLIENT_TOKEN
 *
 * ffi/test-c.sh starts the server, and starts examples/agent_bot once this prints "waiting for an
 * invitation": the agent invites the client, which accepts and writes; the agent answers. Every wait
 * is bounded. Also covered: NULL / bad UTF-8 / malformed URLs, an unreachable port (transport_error
 * and disconnected events within a bounded time), a refused token, host transport calls on a network
 * client, callbacks on the library's thread, close and start again, a panic, calls after free.
 * Prints the figures it measured (connect time, request round trip, per-call cost).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static const char *BAD_UTF8 = "\xff\xfe";

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Waits up to `ms` for an event containing `a` (and `b` if not NULL); drops the others. Returns the
 * event (free it with fd_string_free) or NULL on timeout. */
static int quiet = 0; /* set while draining, where running out of events is the point */

static char *wait_ev(FdClient *c, const char *a, const char *b, int ms) {
    double end = now_us() + ms * 1e3;
    while (now_us() < end) {
        char *ev = NULL;
        if (fd_client_wait_event(c, 200, &ev) != FD_OK) return NULL;
        if (ev == NULL) continue;
        if (getenv("FD_TEST_TRACE")) fprintf(stderr, "  event: %s\n", ev);
        if (strstr(ev, a) && (b == NULL || strstr(ev, b))) return ev;
        fd_string_free(ev);
    }
    if (!quiet) fprintf(stderr, "no event with %s%s%s within %d ms\n", a, b ? " and " : "", b ? b : "", ms);
    return NULL;
}

/* Waits for the answer to request `id`; returns it (free with fd_string_free) or NULL. */
static char *answer(FdClient *c, uint64_t id, int ms) {
    char want[64];
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)id);
    return wait_ev(c, want, NULL, ms);
}

/* A 127.0.0.1 port with nothing listening: bound, then closed again. */
static int dead_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &n) != 0) return 9;
    close(s);
    return ntohs(a.sin_port);
}

static void arg_misuse(const char *url, const char *token) {
    FdClient *c = (FdClient *)0x10; /* must be overwritten with NULL on every error */
    CHECK_ST(fd_client_connect(NULL, token, 1, &c), FD_ERR_NULL_POINTER);
    CHECK(c == NULL);
    CHECK_ST(fd_client_connect(url, NULL, 1, &c), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_client_connect(url, token, 1, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_client_connect(BAD_UTF8, token, 1, &c), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_client_connect(url, BAD_UTF8, 1, &c), FD_ERR_INVALID_UTF8);
    const char *bad[] = {"", "http://127.0.0.1:8080", "127.0.0.1:8080", "ws://", "ws://:8080", "ws://h:0", "ws://h:70000",
                         "ws://h:port", "ws://h st/x", "ws://[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (FdClient *)0x10;
        CHECK_ST(fd_client_connect(bad[i], token, 1, &c), FD_ERR_INVALID_ARGUMENT);
        CHECK(c == NULL);
    }
    char *ev = (char *)"untouched";
    CHECK_ST(fd_client_wait_event(NULL, 0, &ev), FD_ERR_NULL_POINTER);
    CHECK(ev == NULL);
    CHECK_ST(fd_client_wait_event((FdClient *)0x7fff0, 0, &ev), FD_ERR_INVALID_HANDLE);
}

/* A port where nothing listens: transport_error then disconnected, quickly; retried with backoff. */
static void unreachable(const char *token) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", dead_port());
    FdClient *c = NULL;
    double t0 = now_us();
    CHECK_OK(fd_client_connect(url, token, 7, &c));
    char *ev = wait_ev(c, "\"type\":\"transport_error\"", NULL, 10000);
    CHECK_HAS(ev, "/client");
    CHECK_HAS(ev, "cannot connect");
    fd_string_free(ev);
    ev = wait_ev(c, "\"type\":\"disconnected\"", "\"retry_at\"", 10000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    printf("unreachable port reported in %.1f ms\n", (now_us() - t0) / 1e3);
    bool up = true;
    CHECK_OK(fd_client_is_connected(c, &up));
    CHECK(!up);
    /* Requests made meanwhile are queued, not refused. */
    uint64_t id = 0;
    CHECK_OK(fd_client_get_history(c, &id));
    CHECK(id > 0);
    CHECK_OK(fd_client_free(c));
}

/* A token the server refuses: a "rejected" event, and no more retries. */
static void refused(const char *url) {
    FdClient *c = NULL;
    CHECK_OK(fd_client_connect(url, "not-a-token", 8, &c));
    char *ev = wait_ev(c, "\"type\":\"rejected\"", NULL, 20000);
    CHECK_HAS(ev, "\"code\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_free(c));
}

/* The calls that move a host-run transport are refused on a network client. */
static void host_transport_calls(FdClient *c) {
    bool b = false;
    FdBytes f;
    uint64_t at = 0;
    CHECK_ST(fd_client_poll_connect(c, &b), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_connected(c, 0), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_disconnected(c, 0), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_input(c, 0, (const uint8_t *)"{}", 2), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_poll_transmit(c, &f), FD_ERR_WRONG_STATE);
    CHECK(f.data == NULL);
    CHECK_ST(fd_client_poll_timeout(c, &at), FD_ERR_WRONG_STATE);
    CHECK_ST(fd_client_handle_timeout(c, 0), FD_ERR_WRONG_STATE);
}

typedef struct {
    atomic_int events;
    atomic_int completed;
} Seen;

static void on_event(void *user_data, const char *json) {
    Seen *s = (Seen *)user_data;
    atomic_fetch_add(&s->events, 1);
    if (strstr(json, "\"type\":\"completed\"")) atomic_fetch_add(&s->completed, 1);
}

/* Callbacks run on the library's thread while the host does something else. */
static void callbacks(FdClient *c) {
    Seen seen;
    atomic_init(&seen.events, 0);
    atomic_init(&seen.completed, 0);
    FdSubscription *sub = NULL;
    CHECK_OK(fd_client_subscribe(c, on_event, &seen, &sub));
    for (int i = 0; i < 3; i++) CHECK_OK(fd_client_get_center_status(c, NULL));
    double end = now_us() + 20e6;
    struct timespec two_ms = {0, 2000000};
    while (atomic_load(&seen.completed) < 3 && now_us() < end) nanosleep(&two_ms, NULL);
    CHECK(atomic_load(&seen.completed) == 3);
    CHECK_OK(fd_subscription_free(sub));
}

/* Round trips and per-call costs, printed for docs/c-abi.md (meaningful without valgrind). */
static void measure(FdClient *c) {
    enum { RT = 50, CALLS = 200 };
    double t0 = now_us();
    for (int i = 0; i < RT; i++) {
        uint64_t id = 0;
        CHECK_OK(fd_client_get_center_status(c, &id));
        char *ev = answer(c, id, 20000);
        CHECK(ev != NULL);
        fd_string_free(ev);
    }
    printf("request round trip (get_center_status, loopback): %.0f us\n", (now_us() - t0) / RT);
    char *ev = NULL;
    t0 = now_us();
    for (int i = 0; i < CALLS; i++) {
        CHECK_OK(fd_client_wait_event(c, 0, &ev));
        fd_string_free(ev);
    }
    printf("fd_client_wait_event(timeout 0): %.0f ns per call\n", (now_us() - t0) * 1e3 / CALLS);
    t0 = now_us();
    for (int i = 0; i < CALLS; i++) CHECK_OK(fd_client_get_center_status(c, NULL));
    printf("fd_client_get_center_status on a network client (queue + wake): %.0f ns per call\n", (now_us() - t0) * 1e3 / CALLS);
    /* Let those answers arrive and drop them. */
    quiet = 1;
    while ((ev = wait_ev(c, "\"kind\":\"center_status\"", NULL, 3000)) != NULL) fd_string_free(ev);
    quiet = 0;
}

/* The mission with an agent (agent_bot): history, invitation, chat both ways, and the rest. */
static void mission(FdClient *c) {
    uint64_t id = 0;
    char *ev = NULL, inv[128] = "", ix[128] = "";

    CHECK_OK(fd_client_get_history(c, &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"kind\":\"history\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_watch(c, "center", &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"ok\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_set_status_json(c, "{\"activity\":\"online\",\"medium\":\"chat\",\"note\":null}", &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"ok\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_request_json(c, "{\"op\":\"get_orders\"}", &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"ok\"");
    fd_string_free(ev);
    CHECK_ST(fd_client_request_json(c, "{\"op\":", &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_ST(fd_client_request_json(c, BAD_UTF8, &id), FD_ERR_INVALID_UTF8);
    CHECK_ST(fd_client_send_chat(c, NULL, "x", &id), FD_ERR_NULL_POINTER);

    printf("waiting for an invitation\n");
    fflush(stdout);
    ev = wait_ev(c, "\"ev\":\"invitation\"", "\"state\":\"pending\"", 60000);
    CHECK(ev != NULL && json_str(ev, "\"data\"", "id", inv, sizeof inv));
    fd_string_free(ev);
    /* Declining an unknown invitation is answered with an error; accepting the real one works. */
    CHECK_OK(fd_client_respond_invitation(c, "no-such-invitation", false, &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"err\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_respond_invitation(c, inv, true, &id));
    ev = answer(c, id, 20000);
    CHECK(ev != NULL && json_str(ev, "\"kind\":\"invitation\"", "interaction", ix, sizeof ix));
    fd_string_free(ev);
    CHECK_OK(fd_client_send_chat(c, ix, "Hi Ann, the light keeps blinking.", &id));
    ev = wait_ev(c, "\"ev\":\"chat\"", "\"kind\":\"agent\"", 60000);
    CHECK_HAS(ev, "\"text\":\"");
    printf("agent answered: %.160s\n", ev ? strstr(ev, "\"text\"") : "(nothing)");
    fd_string_free(ev);

    char *view = NULL;
    CHECK_OK(fd_client_view_json(c, &view));
    CHECK_HAS(view, ix);
    CHECK_HAS(view, "\"history\":[");
    fd_string_free(view);
    char *saved = NULL;
    CHECK_OK(fd_client_save_json(c, &saved));
    CHECK(saved != NULL);
    fd_string_free(saved);

    CHECK_OK(fd_client_end_interaction(c, ix, &id));
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"ok\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_start_interaction(c, FD_MEDIUM_CHAT, "router", NULL, "blinking light", &id));
    ev = answer(c, id, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    CHECK_ST(fd_client_start_interaction(c, 99, NULL, NULL, NULL, &id), FD_ERR_INVALID_ARGUMENT);
    CHECK_OK(fd_client_invite_agent(c, "ann", FD_MEDIUM_CHAT, "Call me back?", &id));
    ev = answer(c, id, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ws://HOST:PORT CLIENT_TOKEN\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *token = argv[2];
    arg_misuse(url, token);
    unreachable(token);
    refused(url);

    FdClient *c = NULL;
    double t0 = now_us();
    CHECK_OK(fd_client_connect(url, token, 99, &c));
    char *ev = wait_ev(c, "\"type\":\"connected\"", NULL, 20000);
    double t_conn = now_us();
    CHECK(ev != NULL);
    fd_string_free(ev);
    ev = wait_ev(c, "\"type\":\"synced\"", NULL, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    printf("connect to connected: %.1f ms, to synced: %.1f ms\n", (t_conn - t0) / 1e3, (now_us() - t0) / 1e3);
    bool up = false;
    CHECK_OK(fd_client_is_connected(c, &up));
    CHECK(up);
    host_transport_calls(c);
    CHECK_OK(fd_client_poll_event(c, &ev)); /* polling works too; whatever it is, it is ours */
    fd_string_free(ev);
    callbacks(c);
    /* A burst of 250 requests first: the invitation pushed right after it must still arrive. */
    measure(c);
    mission(c);

    /* Close: the connection goes, requests queue; start: it comes back and they are answered. */
    CHECK_OK(fd_client_close(c, 0));
    CHECK_OK(fd_client_is_connected(c, &up));
    CHECK(!up);
    uint64_t id = 0;
    CHECK_OK(fd_client_get_history(c, &id));
    CHECK_OK(fd_client_set_token(c, token));
    CHECK_OK(fd_client_start(c, 0));
    ev = wait_ev(c, "\"type\":\"connected\"", NULL, 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    ev = answer(c, id, 20000);
    CHECK_HAS(ev, "\"kind\":\"history\"");
    fd_string_free(ev);

    /* After free: every call is a typed error. */
    CHECK_OK(fd_client_free(c));
    CHECK_ST(fd_client_get_history(c, &id), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_client_wait_event(c, 10, &ev), FD_ERR_INVALID_HANDLE);
    CHECK(ev == NULL);
    CHECK_ST(fd_client_view_json(c, &ev), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_client_close(c, 0), FD_ERR_INVALID_HANDLE);
    CHECK_ST(fd_client_free(c), FD_ERR_INVALID_HANDLE);

    /* A panic while the client is being changed poisons it; its thread stops; free still works. */
    CHECK_OK(fd_client_connect(url, token, 100, &c));
    CHECK_OK(fd_debug_inject_panic(FD_PANIC_CORE));
    CHECK_ST(fd_client_get_history(c, &id), FD_ERR_PANIC);
    CHECK_ST(fd_client_get_history(c, &id), FD_ERR_POISONED);
    CHECK_OK(fd_client_free(c));

    /* An in-process client waits in vain, for exactly its timeout. */
    CHECK_OK(fd_client_new(token, 5, &c));
    t0 = now_us();
    CHECK_OK(fd_client_wait_event(c, 50, &ev));
    CHECK(ev == NULL && now_us() - t0 >= 45e3);
    CHECK_OK(fd_client_free(c));
    return fd_t_finish("test_net");
}
