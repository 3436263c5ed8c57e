import CLinux
import ChatCore
import Glibc
import NIOCore
import Synchronization

/// One event loop's share of the server: the connections it owns, which rooms each is in, and
/// a mailbox through which the rest of the server reaches them.
///
/// Fan-out crosses to a loop once per message, not once per recipient: the hub posts one
/// `ShardMessage` carrying buffers that every local recipient shares, and the loop's drain
/// writes it to each member and flushes each touched connection once per drain.
///
/// Ordering: messages are posted while the hub holds the directory lock, and the mailbox is
/// FIFO, so every loop applies membership changes and room traffic in the directory's order.
/// That is what gives everyone in a room the same order of events.
final class Shard: Sendable {
    let index: Int
    let eventLoop: any EventLoop
    /// Posted from any thread (under the hub's lock), drained on `eventLoop`.
    private let mailbox = Mutex<[ShardMessage]>([])
    /// Touched only on `eventLoop`.
    private let local: NIOLoopBoundBox<LocalTables>

    init(index: Int, eventLoop: any EventLoop) {
        self.index = index
        self.eventLoop = eventLoop
        self.local = NIOLoopBoundBox.makeBoxSendingValue(LocalTables(), eventLoop: eventLoop)
    }

    /// Queues `message` for this loop; schedules a drain when the mailbox was empty.
    func post(_ message: ShardMessage) {
        let wasEmpty = mailbox.withLock { pending in
            pending.append(message)
            return pending.count == 1
        }
        if wasEmpty { eventLoop.execute { self.drain() } }
    }

    // MARK: On the loop

    /// Adds a new connection (on accept, before it can register).
    func attach(_ member: LocalMember) {
        local.value.members[member.id] = member
    }

    /// Asks `member` to say goodbye and close (see `LocalTables.request`); on the loop.
    func request(_ request: CloseRequest, of member: LocalMember) -> EventLoopFuture<any Channel> {
        local.value.request(request, of: member) ?? eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
    }

    /// Writes what is waiting for `member` now (a resumed connection's backlog).
    func flush(_ member: LocalMember) {
        member.flush(local.value)
    }

    /// Forgets a closed connection and its room memberships on this loop.
    func detach(_ id: SessionID) {
        let tables = local.value
        guard let member = tables.members.removeValue(forKey: id) else { return }
        member.context = nil  // the context holds the handler, which holds the member
        if member.parked != nil { tables.counters.parked -= 1 }
        for room in member.roomSlots.rooms { tables.remove(member, from: room) }
    }

    /// Every connection on this loop.
    var members: Dictionary<SessionID, LocalMember>.Values { local.value.members.values }

    /// This loop's counters, for changing on the loop.
    var counters: ShardCounters {
        get { local.value.counters }
        set { local.value.counters = newValue }
    }

    /// A snapshot of this loop's counters, from any thread.
    func snapshot() -> EventLoopFuture<ShardCounters> {
        eventLoop.submit {
            var counters = self.local.value.counters
            counters.connections = self.local.value.members.count
            return counters
        }
    }

    private func drain() {
        let batch = mailbox.withLock { pending in
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            return batch
        }
        let tables = local.value
        var index = batch.startIndex
        while index < batch.endIndex {
            let message = batch[index]
            index += 1
            switch message {
            case .room(let room, _, _):
                // Consecutive messages to the same room go out together (see `fanOut(run:)`).
                var end = index
                while end < batch.endIndex, case .room(let next, _, _) = batch[end], next == room { end += 1 }
                if let members = tables.rooms[room] { fanOut(run: batch[(index - 1)..<end], to: room, members: members, tables) }
                index = end
            case .session(let id, let payload):
                guard let member = tables.members[id] else { continue }
                member.write(payload.answer(for: member.format), tables)
            case .reply(let id, let payload):
                guard let member = tables.members[id] else { continue }
                member.writeReply(payload.answer(for: member.format), tables)
            case .sessions(let ids, let payload):
                for id in ids {
                    guard let member = tables.members[id] else { continue }
                    member.write(payload.buffer(for: member.format, inCurrentRoom: true), tables)
                }
            case .added(let id, let room):
                guard let member = tables.members[id] else { continue }  // already closed
                tables.add(member, to: room)
            case .removed(let id, let room):
                guard let member = tables.members[id] else { continue }
                tables.remove(member, from: room)
            case .current(let id, let room):
                tables.members[id]?.currentRoom = room
            case .everyone(let payload):
                for member in tables.members.values {
                    member.write(payload.buffer(for: member.format, inCurrentRoom: true), tables)
                }
            case .close(let id, let request):
                guard let member = tables.members[id] else { continue }
                tables.request(request, of: member)
            case .closeMatching(let pattern, let request):
                for member in Array(tables.members.values) {
                    guard let address = member.address, pattern.contains(address) else { continue }
                    tables.request(request, of: member)
                }
            case .direct(let id, let buffer):
                tables.members[id]?.writeReply(buffer, tables)
            case .goodbye(let id, let buffer):
                // Close once the goodbye (and everything queued before it) is flushed. Only an
                // open connection says goodbye (a closing one is never parked).
                guard let member = tables.members[id], let channel = member.channel else { continue }
                member.flush(tables)
                tables.counters.bytesOut += buffer.readableBytes
                channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
            case .parkedReady(let id):
                // The parked client spoke or hung up: back onto the loop (a stale wake-up for a
                // connection already back, or gone, is ignored).
                guard let member = tables.members[id], member.parked != nil else { continue }
                tables.resume(member)
            }
        }
        tables.flushDirty()
    }

    /// Fans out consecutive messages to one room (`run`, all `.room` to `room`, one or more).
    ///
    /// Under load a drain carries many messages to the same room, and every member gets all of
    /// them: copying each into each member's gathered output costs a copy per delivery, and the
    /// stores to a thousand cold buffers cost more than the sends. Instead the run is encoded
    /// once per way of seeing it (JSON; text in the member's current room; text from another
    /// room), built the first time a member needs it, and each member is handed that one shared
    /// buffer. Only a text-mode member who sent some of the run (it is not echoed its own
    /// lines) takes the run message by message. The room's order is the run's order either way.
    /// A run of one is the message's own shared buffer, not a copy.
    private func fanOut(run: ArraySlice<ShardMessage>, to room: String, members: [LocalMember], _ tables: LocalTables) {
        tables.runMark &+= 1
        let mark = tables.runMark
        for case .room(_, let payload, let sender) in run {
            if let sender { tables.members[sender]?.runMark = mark }
            if let requester = payload.requester { tables.members[requester]?.runMark = mark }
        }
        var shared: (json: ByteBuffer?, here: ByteBuffer?, elsewhere: ByteBuffer?)
        func concatenated(_ format: WireFormat, inCurrentRoom: Bool) -> ByteBuffer {
            if run.count == 1, case .room(_, let payload, _) = run[run.startIndex] {
                return payload.buffer(for: format, inCurrentRoom: inCurrentRoom)
            }
            var size = 0
            for case .room(_, let payload, _) in run { size += payload.buffer(for: format, inCurrentRoom: inCurrentRoom).readableBytes }
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            for case .room(_, let payload, _) in run {
                buffer.writeImmutableBuffer(payload.buffer(for: format, inCurrentRoom: inCurrentRoom))
            }
            return buffer
        }
        for member in members {
            let inCurrentRoom = member.currentRoom == room
            switch member.format {
            case .text where member.runMark == mark:
                for case .room(_, let payload, let sender) in run where sender != member.id {
                    member.write(payload.buffer(for: .text, inCurrentRoom: inCurrentRoom), tables)
                }
            case .json where member.runMark == mark:
                // Its own lines come back with their request ids; nobody else's carry one.
                for case .room(_, let payload, _) in run {
                    member.write(payload.requester == member.id ? payload.answer(for: .json) : payload.json, tables)
                }
            case .text where inCurrentRoom:
                if shared.here == nil { shared.here = concatenated(.text, inCurrentRoom: true) }
                member.write(shared.here!, lines: run.count, tables)
            case .text:
                if shared.elsewhere == nil { shared.elsewhere = concatenated(.text, inCurrentRoom: false) }
                member.write(shared.elsewhere!, lines: run.count, tables)
            case .json:
                if shared.json == nil { shared.json = concatenated(.json, inCurrentRoom: true) }
                member.write(shared.json!, lines: run.count, tables)
            }
        }
    }

    // MARK: Parking

    /// Starts parking this loop's idle connections with `parking`: every 250 ms, looks for
    /// connections idle for `limits.parkIdleSeconds`.
    func startParking(_ parking: Parking) {
        eventLoop.execute {
            let tables = self.local.value
            tables.parking = parking
            tables.sweep = self.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
                self.parkIdle()
            }
        }
    }

    /// Stops parking (at shutdown, once every connection is closed).
    func stopParking() -> EventLoopFuture<Void> {
        eventLoop.submit {
            let tables = self.local.value
            tables.sweep?.cancel()
            tables.sweep = nil
            tables.parking = nil
        }
    }

    private func parkIdle() {
        let tables = local.value
        guard let parking = tables.parking else { return }
        let idleSeconds = parking.idleSeconds
        guard idleSeconds > 0 else { return }
        let idleSince = Hub.monotonicNow - Int64(idleSeconds) * 1_000_000_000
        var parkedNow = 0
        for member in tables.members.values where member.parked == nil && member.lastActive <= idleSince {
            guard let handler = member.context?.handler as? ChatConnectionHandler, handler.parkIfIdle(parking) else { continue }
            parkedNow += 1
        }
        tables.counters.parked += parkedNow
        if parkedNow >= Self.trimAfterParking {
            // The channels just closed freed their memory to the allocator; hand whole free
            // pages back to the system, or an idle crowd keeps the memory its arrival took.
            malloc_trim(0)
        }
    }

    /// Parking this many connections in one sweep returns free memory to the system.
    static let trimAfterParking = 64

    /// Called from the parking lot's thread: a parked connection has input or hung up.
    func parkedReady(_ id: SessionID) {
        post(.parkedReady(id))
    }
}

/// What one loop counted (for `chatctl stats`); summed over the loops.
struct ShardCounters: Sendable {
    var accepted = 0
    var refused: [String: Int] = [:]
    var bytesIn = 0
    var bytesOut = 0
    /// Lines (events) written to clients.
    var linesOut = 0
    var connections = 0
    /// Connections parked now.
    var parked = 0

    static func + (lhs: ShardCounters, rhs: ShardCounters) -> ShardCounters {
        ShardCounters(
            accepted: lhs.accepted + rhs.accepted, refused: lhs.refused.merging(rhs.refused, uniquingKeysWith: +),
            bytesIn: lhs.bytesIn + rhs.bytesIn, bytesOut: lhs.bytesOut + rhs.bytesOut, linesOut: lhs.linesOut + rhs.linesOut,
            connections: lhs.connections + rhs.connections, parked: lhs.parked + rhs.parked)
    }
}

/// Fired into a connection whose fan-out backlog passed its send queue limit.
struct SlowConsumer: Sendable {}

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
    /// The socket of a TCP connection (nil over WebSocket: those are never parked). NIO's while
    /// the channel is open; the parking lot's while parked.
    var descriptor: Int32?
    /// What a parked connection's handler will need back; nil while it is on the loop.
    var parked: ParkedConnection?
    /// The peer's IP address bytes, for address bans.
    var address: [UInt8]?
    /// When the client last sent anything, or last could not take what it was sent at once
    /// (monotonic nanoseconds): parking waits for `parkIdleSeconds` past it.
    var lastActive: Int64
    var format = WireFormat.text
    /// Marks a member that sent part of the run of messages being fanned out (`Shard.fanOut`).
    /// (Declared here, it fits in the padding after `format`.)
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

    init(id: SessionID, channel: any Channel, descriptor: Int32?, sendQueueLimit: Int) {
        self.id = id
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

/// What a parked connection's handler needs to carry on exactly where it left off. Everything
/// else it had is either in its `LocalMember` or back to its starting value (an idle client's
/// flood bucket is full, its framer between lines, its timers done).
struct ParkedConnection {
    /// The registered nick, as shown, and the peer as logged.
    var nick: String
    var peer: String
    /// Whether the connection counts against the connection limits (`Hub.release` on close).
    var admitted: Bool
    var overlongLines: Int
    /// A close asked for while parked (kick, ban, shutdown), carried out once it is back.
    var pendingClose: CloseRequest?
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

/// A loop's own tables. Only its loop reads or writes them.
final class LocalTables {
    var counters = ShardCounters()
    var members: [SessionID: LocalMember] = [:]
    var rooms: [String: [LocalMember]] = [:]
    var dirty: [LocalMember] = []
    /// Tells apart the runs of room messages fanned out (`Shard.fanOut`).
    var runMark: UInt32 = 0
    /// Set while idle connections are parked (`Shard.startParking`).
    var parking: Parking?
    var sweep: RepeatedTask?

    /// Brings a parked connection back onto the loop. Its output so far waits in the member
    /// until the channel is up.
    @discardableResult
    func resume(_ member: LocalMember) -> EventLoopFuture<any Channel>? {
        guard member.parked != nil, let parking else { return nil }
        counters.parked -= 1
        return parking.resume(member)
    }

    /// Asks a connection to say goodbye and close; a parked one is brought back to do it.
    /// Returns its channel, once it has one.
    @discardableResult
    func request(_ request: CloseRequest, of member: LocalMember) -> EventLoopFuture<any Channel>? {
        if member.parked != nil {
            member.parked!.pendingClose = request
            return resume(member)
        }
        guard let channel = member.channel else { return nil }
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(request)
        return channel.eventLoop.makeSucceededFuture(channel)
    }

    func add(_ member: LocalMember, to room: String) {
        guard member.roomSlots[room] == nil else { return }
        member.roomSlots[room] = rooms[room, default: []].count
        rooms[room, default: []].append(member)
    }

    /// Swap-removes: order within a loop does not matter, every member gets every message.
    func remove(_ member: LocalMember, from room: String) {
        guard let slot = member.roomSlots.removeValue(forKey: room), var list = rooms.removeValue(forKey: room) else { return }
        let last = list.removeLast()
        if last !== member {
            list[slot] = last
            last.roomSlots[room] = slot
        }
        if !list.isEmpty { rooms[room] = list }
    }

    func flushDirty() {
        for member in dirty { member.flush(self) }
        dirty.removeAll(keepingCapacity: true)
    }
}

@available(*, unavailable)
extension LocalTables: Sendable {}

extension SocketAddress {
    /// The IP address as 4 or 16 bytes, for matching against bans.
    var ipBytes: [UInt8]? {
        ipAddress.flatMap(AddressPattern.parseAddress)
    }
}
