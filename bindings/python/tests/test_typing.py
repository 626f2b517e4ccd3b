"""Typing notices and read receipts between a network client and an agent console.

Typing is soft state (events `Typing`, never sequenced) and refused for an interaction that is not
the caller's; read marks are sequenced events (`ChatRead`) both ways. Needs $FRONTDESK_SERVER, like
test_agent.py; skipped without it.
"""

import pytest

import frontdesk as fd
from conftest import Recorder
from test_agent import TIMEOUT_MS, AgentRecorder, agent_token, agent_url


def test_typing_and_read_receipts_both_ways(server):  # noqa: F811
    rec = AgentRecorder()
    agent = fd.FrontdeskAgent.connect(agent_url(server), agent_token("tina"), 601, "Tina", [fd.Medium.CHAT], rec)
    crec = Recorder()
    client = fd.FrontdeskClient.connect(server["url"], server["alice"], 602, crec)
    try:
        agent.wait_seated(TIMEOUT_MS)
        client.wait_synced(TIMEOUT_MS)
        inv = agent.wait(agent.invite("alice", fd.Medium.CHAT, "Typing test"), TIMEOUT_MS).invitation
        crec.wait_for(lambda e: e.is_invitation_changed() and e.invitation.id == inv.id)
        ix = client.wait(client.accept_invitation(inv.id), TIMEOUT_MS).invitation.interaction_id
        rec.wait_for(lambda e: e.is_pushed() and e.event.is_connected() and e.event.interaction.id == ix)
        crec.wait_for(lambda e: e.is_interaction_changed() and e.interaction.id == ix and e.interaction.state.is_connected())

        assert client.send_typing(ix, True)
        rec.wait_for(lambda e: e.is_typing() and e.interaction_id == ix and e.on)
        assert not client.send_typing(ix, True), "a repeat within the refresh period stays local"
        assert agent.send_typing(ix, True)
        crec.wait_for(lambda e: e.is_typing() and e.interaction_id == ix and e.on)
        assert agent.send_typing(ix, False)
        crec.wait_for(lambda e: e.is_typing() and e.interaction_id == ix and not e.on)
        with pytest.raises(fd.FrontdeskError.NotFound):
            client.send_typing("ix-not-mine", True)

        m = agent.wait(agent.send_chat(ix, "Try the reset button."), TIMEOUT_MS).message
        crec.wait_for(lambda e: e.is_chat_received() and e.message.seq == m.seq)
        assert client.wait(client.mark_read(ix, m.seq), TIMEOUT_MS).is_done()
        rec.wait_for(lambda e: e.is_pushed() and e.event.is_chat_read() and e.event.seq == m.seq)
        client.send_chat(ix, "Done, it works.")
        mine = rec.wait_for(lambda e: e.is_pushed() and e.event.is_chat() and e.event.message.text == "Done, it works.").event.message
        assert agent.wait(agent.mark_read(ix, mine.seq), TIMEOUT_MS).is_done()
        crec.wait_for(lambda e: e.is_chat_read() and e.interaction_id == ix and e.seq == mine.seq)
        agent.wait(agent.end(ix), TIMEOUT_MS)
    finally:
        client.disconnect()
        agent.shutdown()
