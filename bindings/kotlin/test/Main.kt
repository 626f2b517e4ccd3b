// Runs the client flow through the generated Kotlin bindings on the JVM (JNA loads libfrontdesk_uniffi.so).
// Plain main() with checks rather than a test framework, so it needs only kotlinc, the stdlib and JNA.

import frontdesk.*
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

const val TIMEOUT: ULong = 5000u
var passed = 0
var failed = 0

fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
    }
}

fun expect(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

/** Queues events and remembers which threads delivered them. */
class Recorder : ClientListener {
    val events = LinkedBlockingQueue<ClientEvent>()
    val threads = java.util.Collections.synchronizedSet(HashSet<Long>())
    val seen = java.util.Collections.synchronizedList(ArrayList<ClientEvent>())

    override fun onEvent(event: ClientEvent) {
        threads.add(Thread.currentThread().id)
        seen.add(event)
        events.add(event)
    }

    fun <T : ClientEvent> next(what: String, pred: (ClientEvent) -> Boolean): T {
        val end = System.currentTimeMillis() + TIMEOUT.toLong()
        while (true) {
            val left = end - System.currentTimeMillis()
            val e = events.poll(maxOf(left, 0), TimeUnit.MILLISECONDS) ?: throw AssertionError("no $what")
            @Suppress("UNCHECKED_CAST")
            if (pred(e)) return e as T
        }
    }
}

fun agentEvent(center: EmbeddedCenter, agent: String, pred: (AgentEvent) -> Boolean): AgentEvent {
    while (true) {
        val e = center.nextAgentEvent(agent, TIMEOUT)
        if (pred(e)) return e
    }
}

fun main() {
    val mainThread = Thread.currentThread().id
    val center = EmbeddedCenter.demo()
    val rec = Recorder()
    val alice = center.connect("tok-alice", 1u, rec)

    check("connect and sync") {
        alice.waitSynced(TIMEOUT)
        val v = alice.view()
        expect(v.clientId == "alice", "client id ${v.clientId}")
        expect(v.orders.map { it.id }.sorted() == listOf("o1", "o2"), "orders ${v.orders}")
        expect(v.products.size == 3, "products")
        expect(v.center != null, "center status")
    }

    check("listener runs on a background thread") {
        rec.next<ClientEvent.Synced>("synced") { it is ClientEvent.Synced }
        expect(rec.threads.isNotEmpty() && mainThread !in rec.threads, "threads ${rec.threads}")
    }

    check("edit profile") {
        val id = alice.updateProfile(ProfilePatch(demographics = Demographics(name = "Alice", languages = listOf("en"))))
        val r = alice.wait(id, TIMEOUT) as Response.Profile
        expect(r.profile.demographics.name == "Alice", "name")
    }

    check("history by product, agent and date") {
        fun ids(f: HistoryFilter) = (alice.wait(alice.getHistory(f), TIMEOUT) as Response.History).records.map { it.id }
        expect(ids(HistoryFilter(productId = "router")) == listOf("h0", "h2"), "by product")
        expect(ids(HistoryFilter(agentId = "bo")) == listOf("h1", "h2"), "by agent")
        val now = center.nowMs()
        expect(ids(HistoryFilter(fromMs = now - 250_000_000u, untilMs = now)) == listOf("h0", "h1"), "by date")
        expect(ids(HistoryFilter(afterId = "h0", limit = 1u)) == listOf("h1"), "paged")
    }

    check("orders and delivery edit") {
        val r = alice.wait(alice.updateDelivery("o1", DeliveryDetails(address = "2 High St")), TIMEOUT) as Response.OrderResult
        expect(r.order.delivery.address == "2 High St", "address")
    }

    check("another client's order maps to NotFound") {
        try {
            alice.wait(alice.updateDelivery("o3", DeliveryDetails(address = "x")), TIMEOUT)
            throw AssertionError("no exception")
        } catch (e: FrontdeskException.NotFound) {
            expect(e.message!!.contains("o3"), "message ${e.message}")
        }
    }

    check("bad token maps to Unauthenticated") {
        val bad = center.connect("tok-wrong", 2u, Recorder())
        try {
            bad.waitSynced(TIMEOUT)
            throw AssertionError("no exception")
        } catch (e: FrontdeskException.Unauthenticated) {
            expect(e.message!!.isNotEmpty(), "message")
        }
        bad.close()
    }

    check("alert fires when an agent becomes available") {
        alice.wait(alice.subscribeAlert(AlertRule.AgentAvailable(agentId = "ann", productId = null, medium = null)), TIMEOUT)
        center.agentSetState("ann", AgentState.AVAILABLE)
        val ev = rec.next<ClientEvent.Alert>("alert") { it is ClientEvent.Alert }
        expect(ev.fired.message.contains("Ann"), ev.fired.message)
    }

    check("invitation received, accepted, chat both ways") {
        val inv = center.agentInvite("ann", "alice", Medium.CHAT, "Need help?")
        rec.next<ClientEvent.InvitationChanged>("invitation") { it is ClientEvent.InvitationChanged && it.invitation.id == inv.id }
        val r = alice.wait(alice.acceptInvitation(inv.id), TIMEOUT) as Response.InvitationResult
        val interaction = r.invitation.interactionId!!
        val mine = (alice.wait(alice.sendChat(interaction, "hi from kotlin"), TIMEOUT) as Response.Chat).message
        val got = agentEvent(center, "ann") { it is AgentEvent.Chat } as AgentEvent.Chat
        expect(got.message.text == "hi from kotlin", "agent got ${got.message.text}")
        rec.next<ClientEvent.ChatDelivered>("delivery") { it is ClientEvent.ChatDelivered && it.seq == mine.seq }
        center.agentSendChat("ann", interaction, "hi from ann")
        val ev = rec.next<ClientEvent.ChatReceived>("chat") { it is ClientEvent.ChatReceived }
        expect(ev.message.author == Author.Agent(id = "ann"), "author")
        alice.wait(alice.endInteraction(interaction), TIMEOUT)
    }

    check("client starts a chat interaction") {
        val r = alice.wait(alice.startInteraction(Medium.CHAT, "router", null, "red light"), TIMEOUT) as Response.Interaction
        val offered = agentEvent(center, "ann") { it is AgentEvent.Offered } as AgentEvent.Offered
        expect(offered.interaction.id == r.interaction.id, "offered id")
        center.agentAccept("ann", r.interaction.id)
        rec.next<ClientEvent.InteractionChanged>("connected") {
            it is ClientEvent.InteractionChanged && it.interaction.id == r.interaction.id && it.interaction.state is InteractionState.Connected
        }
    }

    check("save, close, restore: the queued requests go out once") {
        val r1 = Recorder()
        val first = center.connect("tok-alice", 60u, r1)
        first.waitSynced(TIMEOUT)
        center.setClientOnline(first, false)                 // offline: the notes wait in the queue
        val ids = listOf(first.addNote("h0", "kotlin note 1"), first.addNote("h0", "kotlin note 2"))
        val state = first.saveState()
        first.close()                                        // the process is gone
        val r2 = Recorder()
        val restored = center.restore("tok-alice", state, r2)
        for (id in ids) expect(restored.wait(id, TIMEOUT) is Response.Record, "answer to $id")
        val h = restored.wait(restored.getHistory(HistoryFilter(productId = "router")), TIMEOUT) as Response.History
        val notes = h.records.first { it.id == "h0" }.notes.map { it.text }.filter { it.startsWith("kotlin note") }
        expect(notes == listOf("kotlin note 1", "kotlin note 2"), "notes $notes")
        restored.close()
    }

    check("optional arguments take their defaults") {
        center.agentSetState("bo", AgentState.AVAILABLE)
        val r = alice.wait(alice.startInteraction(Medium.CHAT), TIMEOUT) as Response.Interaction
        alice.wait(alice.endInteraction(r.interaction.id), TIMEOUT)
    }

    check("a listener that throws is reported and the events go on") {
        val r = object : ClientListener {
            val seen = LinkedBlockingQueue<ClientEvent>()
            override fun onEvent(event: ClientEvent) {
                seen.add(event)
                if (event is ClientEvent.Synced) throw IllegalStateException("app bug in onEvent")  // stderr gets one line
            }
        }
        val c = center.connect("tok-bob", 61u, r)
        c.waitSynced(TIMEOUT)
        val id = c.getProducts()
        c.wait(id, TIMEOUT)
        val end = System.currentTimeMillis() + TIMEOUT.toLong()
        while (r.seen.none { it is ClientEvent.Completed && it.requestId == id } && System.currentTimeMillis() < end) Thread.sleep(10)
        expect(r.seen.any { it is ClientEvent.Completed && it.requestId == id }, "events after the exception")
        c.close()
    }

    check("a malformed URL throws Invalid at once") {
        for (url in listOf("not a url", "http://127.0.0.1:8080/client")) {
            try {
                FrontdeskClient.connect(url, "t", 51u, Recorder()).close()
                throw AssertionError("no exception for $url")
            } catch (e: FrontdeskException.Invalid) {
                expect(e.message!!.contains("ws://"), "message ${e.message}")
            }
        }
    }

    check("network client to an unreachable server retries without blocking") {
        val r = Recorder()
        val net = FrontdeskClient.connect("ws://127.0.0.1:9/client", "t", 50u, r)  // nothing listens on port 9
        val id = net.getProfile()                                                   // queued, returns at once
        val cause = r.next<ClientEvent.TransportError>("transport error") { it is ClientEvent.TransportError }
        expect(cause.message.contains("refused", ignoreCase = true), "cause ${cause.message}")
        r.next<ClientEvent.Disconnected>("disconnected") { it is ClientEvent.Disconnected }
        try {
            net.wait(id, 200u)
            throw AssertionError("no exception")
        } catch (e: FrontdeskException.Timeout) {
        }
        net.disconnect()
        net.close()
    }

    center.shutdown()
    check("calls after shutdown throw Closed") {
        try {
            alice.getProfile()
            throw AssertionError("no exception")
        } catch (e: FrontdeskException.Closed) {
        }
    }
    alice.close()
    center.close()

    println("kotlin: $passed passed, $failed failed")
    if (failed > 0) System.exit(1)
}
