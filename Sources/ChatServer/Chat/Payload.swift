import ChatCore
import NIOCore

/// What the hub sends a loop.
enum ShardMessage: Sendable {
    /// Room traffic for every local member of the room (text-mode `sender` skipped).
    case room(String, Payload, sender: SessionID?)
    case session(SessionID, Payload)
    /// To the session whose request produced it (written as a reply: backpressure, not send queue).
    case reply(SessionID, Payload)
    case sessions([SessionID], Payload)
    case added(SessionID, room: String)
    case removed(SessionID, room: String)
    case current(SessionID, room: String?)
    /// Bytes already encoded for this one connection's format (replies, greeting).
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

/// One event, encoded once per wire format; every recipient shares these buffers.
struct Payload: Sendable {
    let text: ByteBuffer
    /// Room traffic as seen by members whose current room is another one (`[#room] ` prefix).
    let textElsewhere: ByteBuffer?
    /// The event in JSON as its audience sees it. Sent to several (`requester` among them), it
    /// has no `re`: the request's id belongs to the requester alone. Sent to one, the requester
    /// itself, it has its `re`.
    let json: ByteBuffer
    /// The event in JSON with its `re`, for the requester among several; nil otherwise.
    let jsonAnswer: ByteBuffer?
    /// Who asked for it, when it answers a request and goes to a room: that member alone
    /// gets `jsonAnswer` (`Shard.fanOut`).
    let requester: SessionID?

    init(_ event: Event, echo: Bool = false, requester: SessionID? = nil) {
        self.requester = event.re == nil ? nil : requester
        if echo, case .privateMessage(_, let to, let text) = event.kind {
            self.text = ByteBuffer(string: TextFormat.ownPrivateMessage(to: to, text: text))
        } else {
            self.text = ByteBuffer(string: TextFormat.render(event))
        }
        switch event.kind {
        case .message, .action: textElsewhere = ByteBuffer(string: TextFormat.render(event, inCurrentRoom: false))
        default: textElsewhere = nil
        }
        if event.re == nil || requester == nil {
            json = ByteBuffer(bytes: JSONFormat.render(event))
            jsonAnswer = nil
        } else {
            var seenByAll = event
            seenByAll.re = nil
            json = ByteBuffer(bytes: JSONFormat.render(seenByAll))
            jsonAnswer = ByteBuffer(bytes: JSONFormat.render(event))
        }
    }

    /// What a member of the audience gets (in its current room or not).
    func buffer(for format: WireFormat, inCurrentRoom: Bool) -> ByteBuffer {
        switch format {
        case .json: json
        case .text: inCurrentRoom ? text : (textElsewhere ?? text)
        }
    }

    /// What the requester gets: its request's id included.
    func answer(for format: WireFormat) -> ByteBuffer {
        switch format {
        case .json: jsonAnswer ?? json
        case .text: text
        }
    }
}
