/* Minimal test harness for the frontdesk C tests: counts checks, prints "N passed, N failed". */
#ifndef FD_TEST_UTIL_H
#define FD_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontdesk.h"

static int fd_t_passed = 0;
static int fd_t_failed = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            fd_t_passed++;                                                           \
        } else {                                                                     \
            fd_t_failed++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* Checks that a call returns the expected FdStatus, and shows the library's message if not. */
#define CHECK_ST(call, expected)                                                          \
    do {                                                                                  \
        FdStatus st_ = (call);                                                            \
        if (st_ == (expected)) {                                                          \
            fd_t_passed++;                                                                \
        } else {                                                                          \
            fd_t_failed++;                                                                \
            fprintf(stderr, "%s:%d: %s returned %s, wanted %s (%s)\n", __FILE__, __LINE__, \
                    #call, fd_status_name((int32_t)st_), fd_status_name((int32_t)(expected)), \
                    fd_last_error_message());                                             \
        }                                                                                 \
    } while (0)

#define CHECK_OK(call) CHECK_ST(call, FD_OK)

/* Checks that a JSON text contains a fragment (the tests avoid a JSON parser on purpose). */
#define CHECK_HAS(text, fragment)                                                            \
    do {                                                                                     \
        const char *t_ = (text);                                                             \
        if (t_ != NULL && strstr(t_, (fragment)) != NULL) {                                  \
            fd_t_passed++;                                                                   \
        } else {                                                                             \
            fd_t_failed++;                                                                   \
            fprintf(stderr, "%s:%d: %s lacks %s: %s\n", __FILE__, __LINE__, #text, fragment, \
                    t_ ? t_ : "(null)");                                                     \
        }                                                                                    \
    } while (0)

static inline int fd_t_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, fd_t_passed, fd_t_failed);
    return fd_t_failed == 0 ? 0 : 1;
}

/* Copies the string value of the first "key":"..." after `from` in a JSON text into buf. */
static inline int json_str(const char *json, const char *from, const char *key, char *buf, size_t n) {
    char pat[64];
    const char *p = json ? strstr(json, from) : NULL;
    if (p == NULL || n == 0) return 0;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(p, pat);
    if (p == NULL) return 0;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] != '\0' && p[i] != '"' && i + 1 < n) {
        buf[i] = p[i];
        i++;
    }
    buf[i] = '\0';
    return 1;
}

/* An in-process transport: moves frames between one client and the broker until both are idle. */
typedef struct {
    FdBroker *broker;
    FdClient *client;
    uint64_t conn;
    int up;
} Link;

static inline void pump(Link *l, uint64_t now) {
    for (int round = 0; round < 1000; round++) {
        int moved = 0;
        bool want = false;
        CHECK_OK(fd_client_poll_connect(l->client, &want));
        if (want) {
            if (l->up) CHECK_OK(fd_broker_handle_disconnect(l->broker, now, l->conn));
            CHECK_OK(fd_broker_open_connection(l->broker, now, &l->conn));
            l->up = 1;
            CHECK_OK(fd_client_handle_connected(l->client, now));
            moved = 1;
        }
        FdBytes f;
        while (fd_client_poll_transmit(l->client, &f) == FD_OK && f.data != NULL) {
            if (l->up) CHECK_OK(fd_broker_handle_input(l->broker, now, l->conn, f.data, f.len));
            fd_bytes_free(&f);
            moved = 1;
        }
        FdTransmit t;
        while (fd_broker_poll_transmit(l->broker, &t) == FD_OK && t.data.data != NULL) {
            if (l->up && t.conn == l->conn) CHECK_OK(fd_client_handle_input(l->client, now, t.data.data, t.data.len));
            fd_bytes_free(&t.data);
            if (t.close && l->up && t.conn == l->conn) {
                CHECK_OK(fd_broker_handle_disconnect(l->broker, now, l->conn));
                CHECK_OK(fd_client_handle_disconnected(l->client, now));
                l->up = 0;
            }
            moved = 1;
        }
        if (!moved) return;
    }
}

/* 2026-11-25T09:00:00Z, the tests' clock start. */
#define T0 1795597200000ULL

#endif
