/* Minimal test harness for the frontdesk C tests: counts checks, prints "N passed, N failed". */
#ifndef FD_TEST_UTIL_H
#define FD_TEST_UTIL_H

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

static int fd_t_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, fd_t_passed, fd_t_failed);
    return fd_t_failed == 0 ? 0 : 1;
}

/* 2026-11-25T09:00:00Z, the tests' clock start. */
#define T0 1795597200000ULL

#endif
