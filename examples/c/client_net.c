/*
 * A frontdesk client in C that talks to a running frontdesk-server over WebSocket. It reads its
 * history, waits for an agent's invitation, accepts it, sends a chat message, waits for the
 * agent's answer and ends the chat. The library's thread owns the socket, reconnects and keeps the session alive;
 * this program only makes requests and reads events, exactly as with an in-process client
 * (client_demo.c), minus the frame moving.
 *
 *   frontdesk-server --memory --xmpp-addr off &                 # ws://127.0.0.1:8080
 *   cc client_net.c $(pkg-config --cflags --libs frontdesk) -o client_net
 *   ./client_net ws://127.0.0.1:8080 "$(frontdesk-server token --client alice)"
 *   # meanwhile, as agent ann: frontdesk-cli agent --token "$(frontdesk-server token --agent ann)"
 *   #   then type: invite alice Need help?   ...and answer with: say <text>
 *   # (or the scripted agent: cargo run -p frontdesk-server --example agent_bot -- --url ... --token ... --invite alice)
 *
 * Exits 0 once the agent's answer arrived and the chat ended; 1 on an error or after waiting 60 s for a step.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontdesk.h"

#define TRY(call)                                                                                 \
    do {                                                                                          \
        FdStatus st_ = (call);                                                                    \
        if (st_ != FD_OK) {                                                                       \
            fprintf(stderr, "%s failed: %s: %s\n", #call, fd_status_name((int32_t)st_), fd_last_error_message()); \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

enum { STEP_MS = 60000 };

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
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

/*
 * Waits (up to STEP_MS) for an event containing both `a` and `b` (b may be NULL) and copies it into
 * `keep`; prints the events it passes. Returns 0 on success, 1 on timeout or error.
 */
static int wait_for(FdClient *client, const char *a, const char *b, char *keep, size_t n) {
    double end = now_us() + STEP_MS * 1e3;
    while (now_us() < end) {
        char *ev = NULL;
        if (fd_client_wait_event(client, 500, &ev) != FD_OK) {
            fprintf(stderr, "fd_client_wait_event: %s\n", fd_last_error_message());
            return 1;
        }
        if (ev == NULL) continue;
        printf("  event: %.100s%s\n", ev, strlen(ev) > 100 ? "..." : "");
        int hit = strstr(ev, a) != NULL && (b == NULL || strstr(ev, b) != NULL);
        int refused = strstr(ev, "\"type\":\"rejected\"") != NULL;
        if (hit && keep) snprintf(keep, n, "%s", ev);
        fd_string_free(ev); /* library memory: never free() */
        if (refused) {
            fprintf(stderr, "the server refused the token\n");
            return 1;
        }
        if (hit) return 0;
    }
    fprintf(stderr, "no event with %s within %d s\n", a, STEP_MS / 1000);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ws://HOST:PORT CLIENT_TOKEN\n", argv[0]);
        return 2;
    }
    FdClient *client = NULL;
    char ev[8192], want[64], id[128], interaction[128], text[512];
    uint64_t req = 0;
    int rc = 1;

    /* Connect: returns at once; "connected" and then "synced" arrive as events. */
    double t0 = now_us();
    TRY(fd_client_connect(argv[1], argv[2], 42, &client));
    if (wait_for(client, "\"type\":\"connected\"", NULL, NULL, 0)) goto fail;
    double t_conn = now_us();
    if (wait_for(client, "\"type\":\"synced\"", NULL, NULL, 0)) goto fail;
    printf("connected in %.1f ms, synced in %.1f ms\n", (t_conn - t0) / 1e3, (now_us() - t0) / 1e3);

    /* History: the answer is a "completed" event with the request's id. */
    double t_req = now_us();
    TRY(fd_client_get_history(client, &req));
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)req);
    if (wait_for(client, want, NULL, ev, sizeof ev)) goto fail;
    char summary[256] = "(none)";
    find(ev, "\"history\"", "summary", summary, sizeof summary);
    printf("history (%.0f us round trip): last interaction \"%s\"\n", now_us() - t_req, summary);

    /* An agent invites us to a chat; accept. */
    printf("waiting for an invitation\n");
    fflush(stdout);
    if (wait_for(client, "\"ev\":\"invitation\"", "\"state\":\"pending\"", ev, sizeof ev)) goto fail;
    find(ev, "\"data\"", "id", id, sizeof id);
    find(ev, "\"data\"", "message", text, sizeof text);
    printf("invitation %s: \"%s\"\n", id, text);
    TRY(fd_client_respond_invitation(client, id, true, &req));
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)req);
    if (wait_for(client, want, NULL, ev, sizeof ev)) goto fail;
    if (!find(ev, "\"kind\":\"invitation\"", "interaction", interaction, sizeof interaction)) {
        fprintf(stderr, "accepting failed: %s\n", ev);
        goto fail;
    }
    printf("accepted: interaction %s\n", interaction);

    /* Write, then wait for the agent's answer (a pushed chat message written by an agent). */
    TRY(fd_client_send_chat(client, interaction, "Hi Ann, the light keeps blinking.", &req));
    if (wait_for(client, "\"ev\":\"chat\"", "\"kind\":\"agent\"", ev, sizeof ev)) goto fail;
    find(ev, "\"from\"", "text", text, sizeof text);
    printf("agent answered: \"%s\"\n", text);

    /* Hang up. */
    TRY(fd_client_end_interaction(client, interaction, &req));
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)req);
    if (wait_for(client, want, NULL, ev, sizeof ev)) goto fail;
    printf("chat ended\n");
    rc = 0;

fail:
    /* Closing is optional before free; free stops the library's thread and waits for it. */
    if (client) {
        fd_client_close(client, 0);
        if (fd_client_free(client) != FD_OK) rc = 1;
    }
    return rc;
}
