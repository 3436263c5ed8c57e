import CLinux
import ChatCore
import Glibc
import NIOCore
import Prometheus
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
    /// How long each batch's first message waited in the mailbox for its drain (with metrics
    /// on): the loop's delivery latency, inside the server.
    private let drainLatency: DurationHistogram?

    init(index: Int, eventLoop: any EventLoop, drainLatency: DurationHistogram? = nil) {
        self.index = index
        self.eventLoop = eventLoop
        self.local = NIOLoopBoundBox.makeBoxSendingValue(LocalTables(), eventLoop: eventLoop)
        self.drainLatency = drainLatency
    }

    /// Queues `message` for this loop; schedules a drain when the mailbox was empty.
    func post(_ message: ShardMessage) {
        let wasEmpty = mailbox.withLock { pending in
            pending.append(message)
            return pending.count == 1
        }
        guard wasEmpty else { return }
        if let drainLatency {
            let posted = Hub.monotonicNow
            eventLoop.execute {
                drainLatency.recordNanoseconds(Hub.monotonicNow - posted)
                self.drain()
            }
        } else {
            eventLoop.execute { self.drain() }
        }
    }

    // MARK: On the loop

    /// Adds a new connection (on accept, before it can register).
    func attach(_ member: LocalMember) {
        let tables = local.value
        tables.members[member.id] = member
        tables.counters.open[member.listener, default: 0] += 1
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
        tables.counters.open[member.listener, default: 0] -= 1
        member.context = nil  // the context holds the handler, which holds the member
        member.connection = nil
        if member.parked != nil { tables.counters.parked -= 1 }
        for room in member.roomSlots.rooms { tables.remove(member, from: room) }
    }

    /// A connection has ended: its loop forgets it and counts why, its address stops counting
    /// against the limits, and the directory lets its rooms know (unless the closing says not to).
    func ended(_ member: LocalMember, _ admitted: Bool, registered: Bool = true, _ closing: ConnectionLife.Closing, hub: Hub) {
        detach(member.id)
        if closing.cause != .refused { counters.disconnects[closing.cause, default: 0] += 1 }
        let (reason, notify) = (closing.reason, closing.notify)
        if admitted, let address = member.address { hub.release(address: address) }
        if registered {
            let id = member.id
            hub.perform { directory, now in directory.disconnect(id, reason: reason, notify: notify, at: now) }
        }
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
                member.write(payload.answer(for: member), tables)
            case .reply(let id, let payload):
                guard let member = tables.members[id] else { continue }
                member.writeReply(payload.answer(for: member), tables)
            case .sessions(let ids, let payload):
                for id in ids {
                    guard let member = tables.members[id] else { continue }
                    member.write(payload.buffer(for: member, inCurrentRoom: true), tables)
                }
            case .added(let id, let room):
                guard let member = tables.members[id] else { continue }  // already closed
                tables.add(member, to: room)
            case .removed(let id, let room):
                guard let member = tables.members[id] else { continue }
                tables.remove(member, from: room)
            case .current(let id, let room):
                tables.members[id]?.currentRoom = room
            case .renamed(let id, let nick):
                tables.members[id]?.nick = nick
            case .everyone(let payload):
                for member in tables.members.values {
                    member.write(payload.buffer(for: member, inCurrentRoom: true), tables)
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
    /// stores to a thousand cold buffers cost more than the sends. Instead the run is rendered
    /// once per dialect and view present (text in the member's current room, text from another
    /// room, JSON, …), the first time a member needs it, and each member is handed that one
    /// shared buffer. Only a member who sent some of the run takes it message by message: its
    /// own lines are skipped, or, in a dialect that echoes them, come with its request's id. The
    /// room's order is the run's order either way. A run of one is the payload's own buffer.
    private func fanOut(run: ArraySlice<ShardMessage>, to room: String, members: [LocalMember], _ tables: LocalTables) {
        tables.runMark &+= 1
        let mark = tables.runMark
        for case .room(_, let payload, let sender) in run {
            if let sender { tables.members[sender]?.runMark = mark }
            if let requester = payload.requester { tables.members[requester]?.runMark = mark }
        }
        var single: Payload?
        if run.count == 1, case .room(_, let payload, _) = run[run.startIndex] { single = payload }
        var shared: [(key: UInt32, buffer: ByteBuffer)] = []
        func concatenated(_ dialect: DialectID, _ view: View) -> ByteBuffer {
            if let single { return single.buffer(dialect, view) }
            let key = Payload.key(dialect, dialect.dialect.canonical(view))
            if let hit = shared.first(where: { $0.key == key }) { return hit.buffer }
            var size = 0
            for case .room(_, let payload, _) in run { size += payload.buffer(dialect, view).readableBytes }
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            for case .room(_, let payload, _) in run { buffer.writeImmutableBuffer(payload.buffer(dialect, view)) }
            shared.append((key, buffer))
            return buffer
        }
        // Most members share the previous one's dialect and view: that buffer, without a lookup.
        var last: (dialect: DialectID, inCurrentRoom: Bool, extensions: UInt8, buffer: ByteBuffer)?
        for member in members {
            let inCurrentRoom = member.currentRoom == room
            if member.runMark == mark {
                for case .room(_, let payload, let sender) in run where member.echoes || sender != member.id {
                    member.write(payload.buffer(for: member, inCurrentRoom: inCurrentRoom), tables)
                }
            } else if let last, last.dialect == member.dialect, last.inCurrentRoom == inCurrentRoom,
                last.extensions == member.viewExtensions
            {
                member.write(last.buffer, lines: run.count, tables)
            } else {
                let buffer = concatenated(member.dialect, View(inCurrentRoom: inCurrentRoom, extensions: member.viewExtensions))
                last = (member.dialect, inCurrentRoom, member.viewExtensions, buffer)
                member.write(buffer, lines: run.count, tables)
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
                self.sweep()
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

    /// Every 250 ms: parks the idle; every fourth time, pings the silent.
    private func sweep() {
        let tables = local.value
        parkIdle()
        tables.sweeps &+= 1
        if tables.sweeps % 4 == 0 {
            pingSilent()
            // One loop does the directory's once-a-second work.
            if index == 0, let parking = tables.parking { parking.hub.protectNicks() }
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
            guard let connection = member.connection, connection.parkIfIdle(parking) else { continue }
            parkedNow += 1
        }
        tables.counters.parked += parkedNow
        if parkedNow >= Self.trimAfterParking {
            // The channels just closed freed their memory to the allocator; hand whole free
            // pages back to the system, or an idle crowd keeps the memory its arrival took.
            malloc_trim(0)
        }
    }

    /// Once a second: sends `PING` to the IRC clients (parked or not) silent for
    /// `irc.pingIntervalSeconds`, and disconnects those still silent `irc.pingTimeoutSeconds`
    /// after it. Any line from the client (its `PONG`) clears `pinged`. A dead peer behind a
    /// parked socket is found this way too: nothing else would ever read from it.
    private func pingSilent() {
        let server = IRCServer.current
        guard server.pingIntervalSeconds > 0 else { return }
        let tables = local.value
        let now = Hub.monotonicNow
        let interval = Int64(server.pingIntervalSeconds) * 1_000_000_000
        let timeout = Int64(server.pingTimeoutSeconds) * 1_000_000_000
        var ping: ByteBuffer?
        // Those to close are gathered first: a close changes the table being walked.
        var silentTooLong: [LocalMember] = []
        for member in tables.members.values where member.dialect == .irc && member.nick != nil {
            let silent = now - member.lastActive
            if !member.pinged, silent >= interval {
                if ping == nil { ping = ByteBuffer(string: "PING :\(server.serverName)\r\n") }
                member.pinged = true
                member.write(ping!, tables)
            } else if member.pinged, silent >= interval + timeout {
                silentTooLong.append(member)
            }
        }
        let seconds = server.pingIntervalSeconds + server.pingTimeoutSeconds
        for member in silentTooLong {
            tables.request(CloseRequest(reason: "Ping timeout: \(seconds) seconds", notify: true, code: .timeout), of: member)
        }
        tables.flushDirty()
    }

    /// Parking this many connections in one sweep returns free memory to the system.
    static let trimAfterParking = 64

    /// Called from the parking lot's thread: a parked connection has input or hung up.
    func parkedReady(_ id: SessionID) {
        post(.parkedReady(id))
    }
}

/// What one loop counted (for `chatctl stats` and the metrics); summed over the loops.
struct ShardCounters: Sendable {
    var accepted = 0
    var refused: [String: Int] = [:]
    var bytesIn = 0
    var bytesOut = 0
    /// Lines (events) written to clients.
    var linesOut = 0
    var connections = 0
    /// Connections open now, by the kind of listener they came in on.
    var open: [ListenerKind: Int] = [:]
    /// Connections parked now.
    var parked = 0
    /// Nicknames granted to new connections.
    var registrations = 0
    /// Connections that ended after being accepted, by why.
    var disconnects: [ConnectionLife.Cause: Int] = [:]

    static func + (lhs: ShardCounters, rhs: ShardCounters) -> ShardCounters {
        ShardCounters(
            accepted: lhs.accepted + rhs.accepted, refused: lhs.refused.merging(rhs.refused, uniquingKeysWith: +),
            bytesIn: lhs.bytesIn + rhs.bytesIn, bytesOut: lhs.bytesOut + rhs.bytesOut, linesOut: lhs.linesOut + rhs.linesOut,
            connections: lhs.connections + rhs.connections, open: lhs.open.merging(rhs.open, uniquingKeysWith: +),
            parked: lhs.parked + rhs.parked, registrations: lhs.registrations + rhs.registrations,
            disconnects: lhs.disconnects.merging(rhs.disconnects, uniquingKeysWith: +))
    }
}
