/*
 * wss:// roots from C (fd_client_connect_tls, fd_agent_connect_tls) against a frontdesk-server serving
 * TLS with a certificate from a private CA:
 *
 *   test_tls wss://localhost:PORT CLIENT_TOKEN AGENT_TOKEN CA.pem OTHER_CA.pem
 *
 * ffi/test-c.sh makes both CAs and the server's certificate (for "localhost") with openssl and starts
 * the server. The platform's roots alone refuse the server, naming the unknown issuer; with the CA as
 * an extra root the client syncs and a request is answered, and the agent console takes its seat;
 * with only another CA it is refused again. Bad arguments get typed errors. Every wait is bounded.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "test_util.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads a whole file into a malloc'd buffer; its length goes to *len. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(65536);
    *len = buf ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    return buf;
}

/* Waits up to `ms` for a client event containing `a`; returns it (fd_string_free) or NULL. */
static char *client_ev(FdClient *c, const char *a, int ms) {
    double end = now_ms() + ms;
    while (now_ms() < end) {
        char *ev = NULL;
        if (fd_client_wait_event(c, 200, &ev) != FD_OK) return NULL;
        if (ev == NULL) continue;
        if (strstr(ev, a)) return ev;
        fd_string_free(ev);
    }
    fprintf(stderr, "no client event with %s within %d ms\n", a, ms);
    return NULL;
}

static char *agent_ev(FdAgent *g, const char *a, int ms) {
    double end = now_ms() + ms;
    while (now_ms() < end) {
        char *ev = NULL;
        if (fd_agent_wait_event(g, 200, &ev) != FD_OK) return NULL;
        if (ev == NULL) continue;
        if (strstr(ev, a)) return ev;
        fd_string_free(ev);
    }
    fprintf(stderr, "no agent event with %s within %d ms\n", a, ms);
    return NULL;
}

static void misuse(const char *url, const char *token, const char *pem, size_t len) {
    FdClient *c = (FdClient *)0x10; /* overwritten with NULL on every error */
    CHECK_ST(fd_client_connect_tls(url, token, 1, NULL, 10, false, &c), FD_ERR_NULL_POINTER);
    CHECK(c == NULL);
    CHECK(strstr(fd_last_error_message(), "roots_pem") != NULL);
    c = (FdClient *)0x10;
    CHECK_ST(fd_client_connect_tls(url, token, 1, (const uint8_t *)pem, 0, false, &c), FD_ERR_INVALID_ARGUMENT);
    CHECK(c == NULL);
    const char *junk = "this is not a certificate";
    CHECK_ST(fd_client_connect_tls(url, token, 1, (const uint8_t *)junk, strlen(junk), false, &c), FD_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fd_last_error_message(), "BEGIN CERTIFICATE") != NULL);
    CHECK_ST(fd_client_connect_tls(url, token, 1, (const uint8_t *)pem, len, false, NULL), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_client_connect_tls(NULL, token, 1, (const uint8_t *)pem, len, false, &c), FD_ERR_NULL_POINTER);
    CHECK_ST(fd_client_connect_tls("https://localhost:1", token, 1, (const uint8_t *)pem, len, false, &c), FD_ERR_INVALID_ARGUMENT);
    FdAgent *g = (FdAgent *)0x10;
    CHECK_ST(fd_agent_connect_tls(url, token, 1, "Ann", "[\"chat\"]", NULL, 1, false, &g), FD_ERR_NULL_POINTER);
    CHECK(g == NULL);
    CHECK_ST(fd_agent_connect_tls(url, token, 1, "Ann", "[\"chat\"]", (const uint8_t *)junk, strlen(junk), true, &g), FD_ERR_INVALID_ARGUMENT);
    /* Only Android's verifier needs the JVM: NULL is refused, and elsewhere the call is unavailable. */
    CHECK_ST(fd_tls_android_init(NULL, NULL), FD_ERR_NULL_POINTER);
    int env = 0, ctx = 0;
    CHECK_ST(fd_tls_android_init(&env, &ctx), FD_ERR_UNAVAILABLE);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s wss://localhost:PORT CLIENT_TOKEN AGENT_TOKEN CA.pem OTHER_CA.pem\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *ctok = argv[2], *atok = argv[3];
    size_t len = 0, other_len = 0;
    char *pem = slurp(argv[4], &len), *other = slurp(argv[5], &other_len);
    if (pem == NULL || other == NULL) {
        fprintf(stderr, "cannot read %s or %s\n", argv[4], argv[5]);
        return 2;
    }
    misuse(url, ctok, pem, len);

    /* The platform's roots alone: refused, and the event names why. */
    FdClient *c = NULL;
    CHECK_OK(fd_client_connect(url, ctok, 7, &c));
    char *ev = client_ev(c, "\"type\":\"transport_error\"", 20000);
    CHECK_HAS(ev, "server certificate refused: unknown issuer");
    fd_string_free(ev);
    CHECK_OK(fd_client_free(c));

    /* The private CA on top of the platform's roots: synced, and a request answered. */
    double t0 = now_ms();
    c = NULL;
    CHECK_OK(fd_client_connect_tls(url, ctok, 7, (const uint8_t *)pem, len, false, &c));
    ev = client_ev(c, "\"type\":\"synced\"", 20000);
    CHECK(ev != NULL);
    fd_string_free(ev);
    printf("fd_client_connect_tls to synced: %.1f ms\n", now_ms() - t0);
    uint64_t id = 0;
    CHECK_OK(fd_client_get_center_status(c, &id));
    char want[64];
    snprintf(want, sizeof want, "\"type\":\"completed\",\"id\":%llu,", (unsigned long long)id);
    ev = client_ev(c, want, 20000);
    CHECK_HAS(ev, "\"ok\"");
    fd_string_free(ev);
    CHECK_OK(fd_client_free(c));

    /* Only another CA: the same server is refused. */
    c = NULL;
    CHECK_OK(fd_client_connect_tls(url, ctok, 8, (const uint8_t *)other, other_len, true, &c));
    ev = client_ev(c, "\"type\":\"transport_error\"", 20000);
    CHECK_HAS(ev, "unknown issuer");
    fd_string_free(ev);
    CHECK_OK(fd_client_free(c));

    /* The agent console with only the private CA takes its seat. */
    FdAgent *g = NULL;
    CHECK_OK(fd_agent_connect_tls(url, atok, 9, "Tess", "[\"chat\"]", (const uint8_t *)pem, len, true, &g));
    ev = agent_ev(g, "\"type\":\"seated\"", 20000);
    CHECK_HAS(ev, "\"name\":\"Tess\"");
    fd_string_free(ev);
    CHECK_OK(fd_agent_free(g));

    free(pem);
    free(other);
    return fd_t_finish("test_tls");
}
