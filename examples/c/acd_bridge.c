/*
 * A vendor's ACD bridge: the ACD reports agent state changes and queue events; the bridge pushes them
 * into the frontdesk status monitor, then prints the center status and the presence document of an
 * agent. The events here are scripted; a real bridge reads them from its CTI link.
 *
 *   cc acd_bridge.c $(pkg-config --cflags --libs frontdesk) -o acd_bridge
 */
#include <stdio.h>
#include <string.h>

#include "frontdesk.h"

/* Stops the bridge on any error, with the library's explanation. */
#define TRY(call)                                                                               \
    do {                                                                                        \
        FdStatus st_ = (call);                                                                  \
        if (st_ != FD_OK) {                                                                     \
            fprintf(stderr, "%s failed: %s: %s\n", #call, fd_status_name((int32_t)st_), fd_last_error_message()); \
            return 1;                                                                           \
        }                                                                                       \
    } while (0)

/* Called with every presence change the monitor reports for watched presentities. */
static void on_presence(void *user_data, const char *event_json) {
    int *count = (int *)user_data;
    (*count)++;
    printf("event: %.100s%s\n", event_json, strlen(event_json) > 100 ? "..." : "");
}

static const char *state_name(FdAgentState s) {
    switch (s) {
        case FD_AGENT_AVAILABLE: return "available";
        case FD_AGENT_BUSY: return "busy";
        case FD_AGENT_AFTER_WORK: return "after work";
        case FD_AGENT_AWAY: return "away";
        default: return "logged out";
    }
}

int main(void) {
    /* The ACD's clock: milliseconds since the epoch. A live bridge passes fd_now_ms(). */
    uint64_t now = 1795597200000ULL;
    const char *support_products[] = {"router", "phone"};
    const char *ann_skills[] = {"router", "phone"};
    const char *bo_skills[] = {"router"};

    FdMonitor *monitor = NULL;
    TRY(fd_monitor_new(&monitor));

    /* Watch agent ann as a back-end service and get her changes through a callback. */
    int events = 0;
    FdSubscription *sub = NULL;
    TRY(fd_monitor_watch(monitor, 1, NULL, "agent:ann", NULL));
    TRY(fd_monitor_subscribe(monitor, on_presence, &events, &sub));

    /* Configuration and logins, as the ACD announces them at start of day. */
    TRY(fd_monitor_queue_configured(monitor, now, "support", "Support", support_products, 2,
                                    FD_MEDIA_CHAT | FD_MEDIA_VOICE | FD_MEDIA_EMAIL));
    TRY(fd_monitor_agent_logged_in(monitor, now, "ann", "Ann", ann_skills, 2, FD_MEDIA_CHAT | FD_MEDIA_VOICE));
    TRY(fd_monitor_agent_logged_in(monitor, now, "bo", "Bo", bo_skills, 1, FD_MEDIA_VOICE));

    /* Agent state changes and queue events from the CTI link. */
    TRY(fd_monitor_agent_state_changed(monitor, now += 1000, "ann", FD_AGENT_AVAILABLE));
    TRY(fd_monitor_agent_state_changed(monitor, now += 1000, "bo", FD_AGENT_AVAILABLE));
    TRY(fd_monitor_interaction_queued(monitor, now += 5000, "call-1", "support", FD_MEDIUM_VOICE, "alice"));
    TRY(fd_monitor_interaction_queued(monitor, now += 2000, "chat-1", "support", FD_MEDIUM_CHAT, NULL));
    TRY(fd_monitor_interaction_answered(monitor, now += 8000, "call-1", "bo"));
    TRY(fd_monitor_agent_state_changed(monitor, now, "bo", FD_AGENT_BUSY));
    TRY(fd_monitor_interaction_answered(monitor, now += 3000, "chat-1", "ann"));
    TRY(fd_monitor_agent_state_changed(monitor, now, "ann", FD_AGENT_BUSY));
    TRY(fd_monitor_interaction_queued(monitor, now += 1000, "call-2", "support", FD_MEDIUM_VOICE, NULL));

    /* Typed reads: what a wallboard or IVR would ask many times a second. */
    FdAgentState ann = FD_AGENT_LOGGED_OUT;
    TRY(fd_monitor_agent_state(monitor, "ann", &ann));
    FdQueueStatus voice;
    TRY(fd_monitor_queue_status(monitor, "support", FD_MEDIUM_VOICE, &voice));
    printf("ann is %s; support/voice: %u holding, %u of %u agents free, hold %s%.1f s\n", state_name(ann),
           voice.holding, voice.agents_available, voice.agents_staffed, voice.has_estimate ? "" : "unknown ",
           voice.estimated_hold_secs);

    char *json = NULL;
    TRY(fd_monitor_center_status_json(monitor, &json));
    printf("center status: %s\n", json);
    fd_string_free(json);

    /* Presence of an agent as PIDF (RFC 3863 with RPID activities), for presence servers and SIP. */
    TRY(fd_monitor_presence_pidf(monitor, "agent:ann", "acd.example", &json));
    printf("PIDF presence of agent ann:\n%s", json);
    fd_string_free(json);

    printf("%d presence events delivered\n", events);
    TRY(fd_subscription_free(sub));
    TRY(fd_monitor_free(monitor));
    return 0;
}
