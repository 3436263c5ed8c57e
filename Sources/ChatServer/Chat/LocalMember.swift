import ChatCore
import Glibc
import NIOCore

/// A connection as its loop's fan-out sees it. Loop-confined, shared by the connection's
/// handler and its shard's tables. It outlives the handler while the connection is parked.
///
/// What one drain of the mailbox sends a connection is gathered here and handed to the channel
/// once, as one buffer with one `writeAndFlush`: a single event goes out as the shared buffer
/// itself (no copy), and so does a run of messages to one room (`Shard.fanOut`); anything else
/// is copied into one. That is one trip through the pipeline and one `writev` per connection
/// per drain, however many events the drain carried. A parked connection gets the same buffer
/// with one `send` straight to its socket.
final class LocalMember {
    let id: SessionID
    /// The channel while the connection is on the loop (nil while parked or being resumed).
    var channel: (any Channel)?
    /// The connection handler's context: fan-out is written from there, which skips the walk
    /// from the channel's tail (and, over WebSocket, still passes the frame adapter).
    var context: ChannelHandlerContext?
    /// The connection's handler, for the idle sweep (`Shard.parkIdle`); nil while parked.
    var connection: (any ParkableConnection)?
    /// The socket of a TCP connection (nil over WebSocket: those are never parked). NIO's while
    /// the channel is open; the parking lot's while parked.
    var descriptor: Int32?
    /// What a parked connection's handler will need back; nil while it is on the loop.
    var parked: ParkedConnection?
    /// The peer's IP address bytes, for address bans.
    var address: [UInt8]?
    /// The nick, once granted (a dialect that addresses its answers, IRC, names it in them).
    var nick: String?
    /// When the client last sent anything, or last could not take what it was sent at once
    /// (monotonic nanoseconds): parking waits for `parkIdleSeconds` past it.
    var lastActive: Int64
    /// The dialect the connection is sent.
    var dialect = DialectID.text
    /// The kind of listener it came in on (metrics count connections by it). (In the padding
    /// after `dialect`, like `runMark`, `viewExtensions` and `echoes`.)
    let listener: ListenerKind
    /// What its dialect asked to see beyond the plain form (`View.extensions`).
    var viewExtensions: UInt8 = 0
    /// Whether its own room messages come back to it (its dialect's, or IRC's `echo-message`).
    var echoes = false
    /// Whether it was sent a keepalive `PING` (IRC) since it last sent anything (`Shard.pingSilent`).
    var pinged = false
    /// Marks a member that sent part of the run of messages being fanned out (`Shard.fanOut`).
    /// (Declared here, it fits in the padding after `dialect`.)
    var runMark: UInt32 = 0
    var currentRoom: String?
    /// Position in each room's member array on this loop, for O(1) removal.
    var roomSlots = RoomSlots()
    var needsFlush = false
    /// This drain's output: the first buffer as it is, then a copy of everything once there is
    /// more than one.
    private var first: ByteBuffer?
    private var gathered: ByteBuffer?
    /// Reply bytes in this drain's output (they are counted in `replyBytes` once written).
    private var pendingReplyBytes = 0
    /// The client's own replies written but not yet sent. They apply backpressure (the client's
    /// requests wait) rather than count towards its send queue: a big /who must not get a
    /// reading client disconnected.
    var replyBytes = 0
    /// `limits.sendQueueBytes` for this client.
    var sendQueueLimit: Int

    init(id: SessionID, channel: any Channel, descriptor: Int32?, listener: ListenerKind, sendQueueLimit: Int) {
        self.id = id
        self.listener = listener
        self.channel = channel
        self.descriptor = descriptor
        self.sendQueueLimit = sendQueueLimit
        self.lastActive = Hub.monotonicNow
    }

    /// Queues fan-out traffic (`lines` lines) for the end of the drain.
    func write(_ buffer: ByteBuffer, lines: Int = 1, _ tables: LocalTables) {
        enqueue(buffer, lines: lines, tables)
    }

    /// Queues a reply to this client's own request.
    func writeReply(_ buffer: ByteBuffer, _ tables: LocalTables) {
        pendingReplyBytes += buffer.readableBytes
        enqueue(buffer, lines: 1, tables)
    }

    /// Whether output is waiting here (for a connection being resumed, until its channel is up).
    var hasOutput: Bool { first != nil || gathered != nil }

    /// Hands this drain's output to the channel, in one write and one flush. A client whose
    /// unsent fan-out traffic then passes its limit is a slow consumer. A parked client gets it
    /// with one `send`; what its socket cannot take at once brings it back onto the loop.
    func flush(_ tables: LocalTables) {
        needsFlush = false
        guard let output = gathered ?? first else { return }
        if parked != nil {
            first = nil
            gathered = nil
            pendingReplyBytes = 0
            sendWhileParked(output, tables)
            return
        }
        guard let channel else { return }  // being resumed: kept until the channel is up
        first = nil
        gathered = nil
        var promise: EventLoopPromise<Void>?
        if pendingReplyBytes > 0 {
            let size = pendingReplyBytes
            pendingReplyBytes = 0
            replyBytes += size
            promise = channel.eventLoop.makePromise(of: Void.self)
            promise!.futureResult.assumeIsolated().whenComplete { _ in self.replyBytes -= size }
        }
        if let context {
            context.writeAndFlush(NIOAny(output), promise: promise)
        } else {
            channel.writeAndFlush(output, promise: promise)
        }
        if !channel.isWritable && isOverSendQueue {
            channel.pipeline.syncOperations.fireUserInboundEventTriggered(SlowConsumer())
        }
    }

    private func sendWhileParked(_ output: ByteBuffer, _ tables: LocalTables) {
        guard let descriptor else { return }
        let sent = output.withUnsafeReadableBytes { bytes in
            Glibc.send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        if sent == output.readableBytes { return }
        // The socket is full, or failed: the rest goes through a channel, which waits for the
        // socket to drain (or meets the error and closes the connection as usual). A reader
        // that falls behind counts as active, so that under load it is not parked and resumed
        // over and over: it is parked again after `parkIdleSeconds` without such a stall.
        var rest = output
        if sent > 0 { rest.moveReaderIndex(forwardBy: sent) }
        first = rest
        lastActive = Hub.monotonicNow
        tables.resume(self)
    }

    /// Whether the unsent output, not counting the client's own replies, exceeds its limit.
    var isOverSendQueue: Bool {
        let buffered = (try? channel?.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        return buffered - replyBytes > sendQueueLimit
    }

    private func enqueue(_ buffer: ByteBuffer, lines: Int, _ tables: LocalTables) {
        tables.counters.linesOut += lines
        tables.counters.bytesOut += buffer.readableBytes
        if gathered != nil {
            gathered!.writeImmutableBuffer(buffer)
        } else if let previous = first {
            var combined = ByteBufferAllocator().buffer(capacity: previous.readableBytes + buffer.readableBytes * 4)
            combined.writeImmutableBuffer(previous)
            combined.writeImmutableBuffer(buffer)
            gathered = combined
            first = nil
        } else {
            first = buffer
        }
        if !needsFlush {
            needsFlush = true
            tables.dirty.append(self)
        }
    }
}

@available(*, unavailable)
extension LocalMember: Sendable {}

/// A member's position in each of its rooms' member arrays. Most clients are in one room, kept
/// inline; the others in a small array (a dictionary would cost more than either).
struct RoomSlots {
    private var first: (room: String, slot: Int)?
    private var others: [(room: String, slot: Int)] = []

    subscript(room: String) -> Int? {
        get { first?.room == room ? first?.slot : others.first { $0.room == room }?.slot }
        set {
            if first?.room == room {
                if let newValue { first!.slot = newValue } else { first = others.popLast() }
                return
            }
            let index = others.firstIndex { $0.room == room }
            switch (index, newValue) {
            case (let index?, let slot?): others[index].slot = slot
            case (let index?, nil): others.remove(at: index)
            case (nil, let slot?): if first == nil { first = (room, slot) } else { others.append((room, slot)) }
            case (nil, nil): break
            }
        }
    }

    mutating func removeValue(forKey room: String) -> Int? {
        defer { self[room] = nil }
        return self[room]
    }

    var rooms: [String] { (first.map { [$0.room] } ?? []) + others.map(\.room) }
}
