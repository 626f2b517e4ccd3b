/*
 * A small frontdesk client in C. It connects to a broker, reads its history, accepts an agent's
 * invitation and sends a chat message.
 *
 * The broker runs in the same process and a 30-line loop (pump) moves frames between the two: that
 * loop is exactly what a network transport does, with a socket in the middle. (A ready-made network
 * transport is not in the C API yet; a host can already put its own socket in `pump`.)
 *
 *   cc client_demo.c $(pkg-config --cflags --libs frontdesk) -o client_demo
 */
#include <stdio.h>
#include <string.h>

#include "frontdesk.h"

#define TRY(call)                                                                                 \
    do {                                                                                          \
        FdStatus st_ = (call);                                                                    \
        if (st_ != FD_OK) {                                                                       \
            fprintf(stderr, "%s failed: %s: %s\n", #call, fd_status_name((int32_t)st_), fd_last_error_message()); \
            return 1;                                                                             \
        }                                                                                         \
    } while (0)

/* Moves frames both ways until neither side has anything to say. */
static int pump(FdBroker *broker, FdClient *client, uint64_t *conn, uint64_t now) {
    for (;;) {
        int moved = 0;
        bool want = false;
        TRY(fd_client_poll_connect(client, &want));
        if (want) { /* the client asks for a transport: "dial" the broker */
            TRY(fd_broker_open_connection(broker, now, conn));
            TRY(fd_client_handle_connected(client, now));
            moved = 1;
        }
        FdBytes frame;
        while (fd_client_poll_transmit(client, &frame) == FD_OK && frame.data != NULL) {
            FdStatus st = fd_broker_handle_input(broker, now, *conn, frame.data, frame.len);
            fd_bytes_free(&frame); /* library memory: never free() */
            TRY(st);
            moved = 1;
        }
        FdTransmit out;
        while (fd_broker_poll_transmit(broker, &out) == FD_OK && out.data.data != NULL) {
            FdStatus st = fd_client_handle_input(client, now, out.data.data, out.data.len);
            fd_bytes_free(&out.data);
            TRY(st);
            moved = 1;
        }
        if (!moved) return 0;
    }
}

/* Copies the string value of the first "key":"..." found after `after` (a demo needs no JSON parser). */
static int find(const char *json, const char *after, const char *key, char *buf, size_t n) {
    char pat[64];
    const char *p = strstr(json, after);
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    if (p == NULL || (p = strstr(p, pat)) == NULL) return 0;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < n) { buf[i] = p[i]; i++; }
    buf[i] = '\0';
    return 1;
}

/* Prints and drops every pending client event; remembers the last one mentioning `needle`. */
static void drain(FdClient *client, const char *needle, char *keep, size_t n) {
    char *ev = NULL;
    while (fd_client_poll_event(client, &ev) == FD_OK && ev != NULL) {
        printf("  client event: %.90s%s\n", ev, strlen(ev) > 90 ? "..." : "");
        if (keep && needle && strstr(ev, needle)) snprintf(keep, n, "%s", ev);
        fd_string_free(ev);
    }
}

int main(void) {
    uint64_t now = 1795597200000ULL, conn = 0;
    const char *skills[] = {"router"};

    /* The center side: a broker with one client token, a queue, history and an agent. */
    FdBroker *broker = NULL;
    TRY(fd_broker_new("{\"tok-alice\":{\"kind\":\"client\",\"id\":\"alice\"}}", &broker));
    TRY(fd_broker_configure_queue(broker, now, "support", "Support", skills, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE));
    TRY(fd_broker_put_record_json(broker,
        "{\"id\":\"h1\",\"client\":\"alice\",\"started_at\":1795500000000,\"ended_at\":1795500600000,"
        "\"product\":\"router\",\"agent\":\"ann\",\"medium\":\"voice\",\"direction\":\"inbound\","
        "\"outcome\":\"completed\",\"summary\":\"Router set-up call\"}"));
    TRY(fd_broker_agent_login(broker, now, "ann", "Ann", FD_ROLE_AGENT, skills, 1, FD_MEDIA_CHAT));
    TRY(fd_broker_agent_set_state(broker, now, "ann", FD_AGENT_AVAILABLE));

    /* The client: connect and sync. */
    FdClient *client = NULL;
    TRY(fd_client_new("tok-alice", 42, &client));
    TRY(fd_client_start(client, now));
    if (pump(broker, client, &conn, now)) return 1;
    drain(client, NULL, NULL, 0);

    /* Read the history; the answer arrives as a "completed" event with the request id. */
    uint64_t req = 0;
    char answer[4096] = "";
    TRY(fd_client_get_history(client, &req));
    if (pump(broker, client, &conn, now)) return 1;
    drain(client, "\"kind\":\"history\"", answer, sizeof answer);
    char summary[128] = "";
    find(answer, "\"history\"", "summary", summary, sizeof summary);
    printf("history request %llu: last interaction \"%s\"\n", (unsigned long long)req, summary);

    /* Agent ann invites the client to a chat; the client accepts. */
    char *inv = NULL;
    char inv_id[128] = "";
    TRY(fd_broker_agent_invite(broker, now += 1000, "ann", "alice", FD_MEDIUM_CHAT, "Need help with the router?", &inv));
    find(inv, "", "id", inv_id, sizeof inv_id);
    fd_string_free(inv);
    if (pump(broker, client, &conn, now)) return 1;
    drain(client, NULL, NULL, 0);
    TRY(fd_client_respond_invitation(client, inv_id, true, &req));
    if (pump(broker, client, &conn, now += 1000)) return 1;
    drain(client, "\"ev\":\"interaction\"", answer, sizeof answer);
    char interaction[128] = "";
    find(answer, "\"ev\":\"interaction\"", "id", interaction, sizeof interaction);
    printf("accepted invitation %s: interaction %s\n", inv_id, interaction);

    /* Send a chat message; the agent's console sees it as a broker event. */
    TRY(fd_client_send_chat(client, interaction, "Hi Ann, the light keeps blinking.", &req));
    if (pump(broker, client, &conn, now += 1000)) return 1;
    drain(client, NULL, NULL, 0);
    char *ev = NULL;
    while (fd_broker_poll_event(broker, &ev) == FD_OK && ev != NULL) {
        if (strstr(ev, "\"event\":\"chat\"")) printf("agent console got: %s\n", ev);
        fd_string_free(ev);
    }

    TRY(fd_client_close(client, now));
    TRY(fd_broker_handle_disconnect(broker, now, conn));
    TRY(fd_client_free(client));
    TRY(fd_broker_free(broker));
    return 0;
}
