"""Callbacks through the Python bindings: "call me now" and a slot in the agenda, typed refusals,
the callback's state on the interaction, and cancelling."""

import pytest

import frontdesk as fd
from conftest import TIMEOUT_MS, agent_event

HOUR_MS = 3_600_000


def test_call_me_now_keeps_a_place_and_shows_the_number_to_the_agent(center, alice):
    client, rec = alice
    center.agent_set_state("ann", fd.AgentState.AVAILABLE)
    r = client.wait(client.request_callback(number="+33 1 23 45 67 89", product_id="router", topic="router blinks"), TIMEOUT_MS)
    li = r.interaction
    assert li.medium == fd.Medium.CALLBACK
    assert li.callback.number == "+33123456789" and li.callback.at_ms is None
    assert li.callback.phase.is_scheduled() and li.callback.attempts == 0
    offered = agent_event(center, "ann", lambda e: e.is_offered())
    assert offered.interaction.id == li.id and offered.interaction.client_address == "+33123456789"
    center.agent_accept("ann", li.id)
    # No dialer in the embedded center: the agent calls by hand, the callback is under way.
    ev = rec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == li.id and e.interaction.callback.phase.is_connected())
    assert ev.interaction.state.is_connected()


def test_bad_numbers_and_slots_outside_the_agenda_are_refused(center, alice):
    client, _ = alice
    with pytest.raises(fd.FrontdeskError.Invalid) as e:
        client.wait(client.request_callback(number="0123"), TIMEOUT_MS)
    assert "number:" in str(e.value)
    # An agenda with one window: Sundays 03:00-04:00 in Tokyo.
    window = fd.AgendaWindow(days=[7], start_minute=180, end_minute=240, time_zone="Asia/Tokyo")
    client.wait(client.update_profile(fd.ProfilePatch(agenda=[window])), TIMEOUT_MS)
    # Two hours from now lies in it at most once a week; step until it does not.
    now = center.now_ms()
    slot = next(now + k * HOUR_MS for k in range(2, 200) if not _sunday_3am_tokyo(now + k * HOUR_MS))
    with pytest.raises(fd.FrontdeskError.Invalid) as e:
        client.wait(client.request_callback(number="+81312345678", at_ms=slot), TIMEOUT_MS)
    assert "outside your agenda" in str(e.value)
    slot = next(now + k * 600_000 for k in range(2, 2000) if _sunday_3am_tokyo(now + k * 600_000))
    r = client.wait(client.request_callback(number="+81312345678", at_ms=slot), TIMEOUT_MS)
    assert r.interaction.callback.at_ms == slot
    # Cancelling a booked callback ends it.
    r = client.wait(client.end_interaction(r.interaction.id), TIMEOUT_MS)
    assert r.interaction.state == fd.InteractionState.ENDED(outcome=fd.Outcome.ABANDONED)


def _sunday_3am_tokyo(ms):
    """Whether an instant falls on a Sunday between 03:00 and 04:00 in Tokyo (UTC+9, no DST)."""
    import datetime

    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone(datetime.timedelta(hours=9)))
    return t.isoweekday() == 7 and t.hour == 3
