// Listener adapters for coroutines: events arrive on the library's thread and go into an unlimited
// channel, so none is dropped while a collector is busy; collect them as a Flow on any dispatcher.
package frontdesk

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow

/** A client's events as a [Flow]; pass it as the listener when connecting. */
class ClientEvents : ClientListener {
    private val channel = Channel<ClientEvent>(Channel.UNLIMITED)

    /** The events, in order; collect once. */
    val flow: Flow<ClientEvent> = channel.receiveAsFlow()

    /** Called by the library; returns at once. */
    override fun onEvent(event: ClientEvent) {
        channel.trySend(event)
    }

    /** Ends the flow (after the client is closed). */
    fun close() {
        channel.close()
    }
}
