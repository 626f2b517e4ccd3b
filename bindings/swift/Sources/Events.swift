// Listener adapters for Swift concurrency: events arrive on the library's thread and are handed to an
// AsyncStream with an unbounded buffer, so none is dropped while the app's task is busy.

/// A client's events as an `AsyncStream`; pass it as the listener when connecting.
public final class ClientEvents: ClientListener, @unchecked Sendable {
    /// The events, in order.
    public let stream: AsyncStream<ClientEvent>
    private let continuation: AsyncStream<ClientEvent>.Continuation

    /// A stream that keeps every event until it is read.
    public init() {
        var c: AsyncStream<ClientEvent>.Continuation!
        stream = AsyncStream(bufferingPolicy: .unbounded) { c = $0 }
        continuation = c
    }

    /// Called by the library; returns at once.
    public func onEvent(event: ClientEvent) throws {
        continuation.yield(event)
    }

    /// Ends the stream (after the client is closed).
    public func finish() {
        continuation.finish()
    }
}
