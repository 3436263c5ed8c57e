import ChatCore
import NIOCore

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
    /// Sweeps so far (pings are looked at every fourth).
    var sweeps = 0

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
