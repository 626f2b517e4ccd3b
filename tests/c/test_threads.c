/* Several threads push events into and read one monitor while a callback counts deliveries. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#define THREADS 4
#define ROUNDS 200

static FdMonitor *monitor;
static atomic_int delivered;
static atomic_int failures;

static void on_event(void *user_data, const char *json) {
    (void)user_data;
    if (strstr(json, "\"type\":") != NULL) atomic_fetch_add(&delivered, 1);
}

static void *worker(void *arg) {
    int n = (int)(intptr_t)arg;
    char agent[16];
    snprintf(agent, sizeof agent, "agent%d", n);
    if (fd_monitor_agent_logged_in(monitor, T0, agent, agent, NULL, 0, FD_MEDIA_CHAT) != FD_OK) atomic_fetch_add(&failures, 1);
    for (int i = 0; i < ROUNDS; i++) {
        FdAgentState want = (i % 2) ? FD_AGENT_AVAILABLE : FD_AGENT_BUSY;
        FdAgentState got = FD_AGENT_LOGGED_OUT;
        if (fd_monitor_agent_state_changed(monitor, T0 + (uint64_t)i, agent, want) != FD_OK) atomic_fetch_add(&failures, 1);
        if (fd_monitor_agent_state(monitor, agent, &got) != FD_OK || got != want) atomic_fetch_add(&failures, 1);
    }
    return NULL;
}

int main(void) {
    CHECK_OK(fd_monitor_new(&monitor));
    CHECK_OK(fd_monitor_watch(monitor, 1, NULL, "center", NULL));
    FdSubscription *sub = NULL;
    CHECK_OK(fd_monitor_subscribe(monitor, on_event, NULL, &sub));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(atomic_load(&failures) == 0);
    CHECK(atomic_load(&delivered) > 0);
    /* Nothing was left behind for a poll: callbacks took every event. */
    char *ev = NULL;
    CHECK_OK(fd_monitor_poll_event(monitor, &ev));
    CHECK(ev == NULL);
    fd_string_free(ev);
    CHECK_OK(fd_subscription_free(sub));
    CHECK_OK(fd_monitor_free(monitor));
    return fd_t_finish("test_threads");
}
