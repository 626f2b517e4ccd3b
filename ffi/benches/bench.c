/*
 * Per-call overhead of the C ABI, in ns per call, for the calls an ACD bridge makes most: a status
 * read and an event push. Built against the release static library by `ffi/test-c.sh --bench`.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include "frontdesk.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define N 1000000

int main(void) {
    const char *skills[] = {"router"};
    uint64_t t = 1795597200000ULL;
    FdMonitor *m = NULL;
    if (fd_monitor_new(&m) != FD_OK) return 1;
    fd_monitor_queue_configured(m, t, "support", "Support", skills, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "agent%d", i);
        fd_monitor_agent_logged_in(m, t, id, id, skills, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE);
    }
    FdAgentState st;
    FdQueueStatus q;
    unsigned sink = 0;

    double a = now_ns();
    for (int i = 0; i < N; i++) { fd_monitor_agent_state(m, "agent7", &st); sink += st; }
    double read_ns = (now_ns() - a) / N;

    a = now_ns();
    for (int i = 0; i < N; i++) { fd_monitor_queue_status(m, "support", FD_MEDIUM_CHAT, &q); sink += q.holding; }
    double queue_ns = (now_ns() - a) / N;

    a = now_ns();
    for (int i = 0; i < N; i++) {
        fd_monitor_agent_state_changed(m, t + (uint64_t)i, "agent7", (i & 1) ? FD_AGENT_AVAILABLE : FD_AGENT_BUSY);
    }
    double push_ns = (now_ns() - a) / N;

    /* The same push with a watcher, drained by polling as a single-threaded host would. */
    fd_monitor_watch(m, 1, NULL, "agent:agent7", NULL);
    a = now_ns();
    for (int i = 0; i < N / 10; i++) {
        fd_monitor_agent_state_changed(m, t + (uint64_t)i, "agent7", (i & 1) ? FD_AGENT_AVAILABLE : FD_AGENT_BUSY);
        char *ev = NULL;
        while (fd_monitor_poll_event(m, &ev) == FD_OK && ev != NULL) fd_string_free(ev);
    }
    double notify_ns = (now_ns() - a) / (N / 10);

    a = now_ns();
    for (int i = 0; i < N; i++) { sink += fd_monitor_agent_state(NULL, "agent7", &st); }
    double err_ns = (now_ns() - a) / N;

    printf("status read   fd_monitor_agent_state          %7.1f ns/call\n", read_ns);
    printf("status read   fd_monitor_queue_status         %7.1f ns/call (20 agents)\n", queue_ns);
    printf("event push    fd_monitor_agent_state_changed  %7.1f ns/call (no watcher)\n", push_ns);
    printf("event push    + notify JSON, poll and free    %7.1f ns/call (one watcher)\n", notify_ns);
    printf("error path    NULL handle                     %7.1f ns/call\n", err_ns);
    fd_monitor_free(m);

    /* A large center: 2,000 agents over 4 queues; the reads must not scan them. */
    if (fd_monitor_new(&m) != FD_OK) return 1;
    const char *queues[] = {"q0", "q1", "q2", "q3"};
    for (int k = 0; k < 4; k++) {
        fd_monitor_queue_configured(m, t, queues[k], queues[k], skills, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_EMAIL);
    }
    for (int i = 0; i < 2000; i++) {
        char id[16];
        snprintf(id, sizeof id, "agent%d", i);
        fd_monitor_agent_logged_in(m, t, id, id, skills, 1, FD_MEDIA_CHAT | FD_MEDIA_VOICE);
        fd_monitor_agent_state_changed(m, t, id, (i % 3) ? FD_AGENT_AVAILABLE : FD_AGENT_BUSY);
    }
    uint32_t mask = 0;
    const int M = 20000;
    a = now_ns();
    for (int i = 0; i < M; i++) { fd_monitor_media_offered(m, &mask); sink += mask; }
    double offered_ns = (now_ns() - a) / M;
    a = now_ns();
    for (int i = 0; i < M; i++) { fd_monitor_queue_status(m, "q2", FD_MEDIUM_CHAT, &q); sink += q.agents_available; }
    double queue2k_ns = (now_ns() - a) / M;
    a = now_ns();
    for (int i = 0; i < M; i++) {
        fd_monitor_agent_state_changed(m, t + (uint64_t)i, "agent7", (i & 1) ? FD_AGENT_AVAILABLE : FD_AGENT_BUSY);
    }
    double push2k_ns = (now_ns() - a) / M;
    printf("status read   fd_monitor_media_offered        %7.1f ns/call (2,000 agents, 4 queues)\n", offered_ns);
    printf("status read   fd_monitor_queue_status         %7.1f ns/call (2,000 agents, 4 queues)\n", queue2k_ns);
    printf("event push    fd_monitor_agent_state_changed  %7.1f ns/call (2,000 agents, 4 queues)\n", push2k_ns);
    fd_monitor_free(m);
    return sink == 0xdeadbeef;
}
