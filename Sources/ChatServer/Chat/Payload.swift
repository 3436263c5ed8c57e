import ChatCore
import NIOCore

/// What the hub sends a loop.
enum ShardMessage: Sendable {
    /// Room traffic for every local member of the room (`sender` skipped unless its dialect
    /// echoes its own messages).
    case room(String, Payload, sender: SessionID?)
    case session(SessionID, Payload)
    /// To the session whose request produced it (written as a reply: backpressure, not send queue).
    case reply(SessionID, Payload)
    case sessions([SessionID], Payload)
    case added(SessionID, room: String)
    case removed(SessionID, room: String)
    case current(SessionID, room: String?)
    case renamed(SessionID, nick: String)
    /// Bytes already rendered in this one connection's dialect (replies, greeting).
    case direct(SessionID, ByteBuffer)
    /// A last line, after which the connection closes.
    case goodbye(SessionID, ByteBuffer)
    /// An event for every connection on the loop.
    case everyone(Payload)
    /// Asks one connection to say goodbye and close (kick).
    case close(SessionID, CloseRequest)
    /// Asks every connection from a matching address to close (address ban).
    case closeMatching(AddressPattern, CloseRequest)
    /// A parked connection has input, or hung up (from the parking lot).
    case parkedReady(SessionID)
}

/// One event on its way to one loop's recipients, rendered there, lazily: once for each dialect
/// and view (`View`) a recipient on the loop needs, and shared by every recipient who sees it
/// that way. Nothing is rendered for a dialect nobody on the loop speaks, and nothing under the
/// hub's lock.
///
/// Rendered on one loop only: the hub makes one payload per loop it posts to, so the cache of
/// renderings needs no lock.
final class Payload: @unchecked Sendable {
    let event: Event
    /// The sender's own copy of its private message.
    let echo: Bool
    /// Who asked for it, when it answers a request: that member alone sees the request's id.
    let requester: SessionID?
    /// Renderings so far, keyed by dialect and canonical view (usually one or two).
    private var rendered: [(key: UInt32, buffer: ByteBuffer)] = []

    init(_ event: Event, echo: Bool = false, requester: SessionID? = nil) {
        self.event = event
        self.echo = echo
        self.requester = event.re == nil ? nil : requester
    }

    /// The event as `dialect` renders it for `view`: rendered the first time it is asked for.
    func buffer(_ dialect: DialectID, _ view: View) -> ByteBuffer {
        var view = view
        view.isEcho = echo
        let canonical = dialect.dialect.canonical(view)
        let key = Self.key(dialect, canonical)
        for entry in rendered where entry.key == key { return entry.buffer }
        let buffer = ByteBuffer(bytes: dialect.dialect.render(event, canonical))
        rendered.append((key, buffer))
        return buffer
    }

    /// What `member`, one of the event's audience, gets (its request's id only if it asked).
    func buffer(for member: LocalMember, inCurrentRoom: Bool) -> ByteBuffer {
        buffer(member.dialect, View(inCurrentRoom: inCurrentRoom, isAnswer: requester == member.id, extensions: member.viewExtensions))
    }

    /// What the one member it was sent to gets: its request's id included (and, in a dialect
    /// whose answers name their recipient, rendered for it alone).
    func answer(for member: LocalMember) -> ByteBuffer {
        let dialect = member.dialect.dialect
        let view = View(isAnswer: true, extensions: member.viewExtensions)
        guard dialect.addressesRecipient else { return buffer(member.dialect, view) }
        return ByteBuffer(bytes: dialect.render(event, View(isAnswer: true, isEcho: echo, extensions: view.extensions), to: member.nick))
    }

    static func key(_ dialect: DialectID, _ canonical: View) -> UInt32 {
        UInt32(dialect.index) << 16 | UInt32(canonical.bits)
    }
}
