import ChatCore
import Foundation
import NIOCore
import Synchronization

/// The server's shared chat state: the one `Directory`, behind one lock, and the shards it
/// routes to.
///
/// Every transition runs the pure `Directory` step and routes its deliveries to the shards'
/// mailboxes *before* the lock is released: that single order is the order every loop applies,
/// so all members of a room see its events in the same sequence. Routing only encodes and
/// appends to mailboxes; no socket I/O happens under the lock.
final class Hub: Sendable {
    let shards: [Shard]
    let limits: Limits
    private let directory: Mutex<Directory>
    private let nextSessionID = Atomic<UInt64>(0)
    private let clock: @Sendable () -> Timestamp

    init(shards: [Shard], limits: Limits, defaultRoom: RoomName, clock: @escaping @Sendable () -> Timestamp = Timestamp.now) {
        self.shards = shards
        self.limits = limits
        self.clock = clock
        self.directory = Mutex(Directory(limits: limits, defaultRoom: defaultRoom, shardCount: shards.count))
    }

    func makeSessionID() -> SessionID {
        SessionID(nextSessionID.add(1, ordering: .relaxed).newValue)
    }

    func shard(for eventLoop: any EventLoop) -> Shard {
        shards.first { $0.eventLoop === eventLoop } ?? shards[0]
    }

    /// An event for one connection that involves no shared state (greeting, errors, help).
    func event(_ kind: Event.Kind, re: String? = nil) -> Event {
        let now = clock()
        return directory.withLock { $0.event(kind, at: now, re: re) }
    }

    /// Runs a directory transition and routes what it produces. Returns the deliveries, so the
    /// caller can log what happened after the lock is released.
    @discardableResult
    func perform(_ transition: (inout Directory, Timestamp) -> [Delivery]) -> [Delivery] {
        let now = clock()
        return directory.withLock { directory in
            let deliveries = transition(&directory, now)
            route(deliveries, directory)
            return deliveries
        }
    }

    /// Registers a connection; on success its welcome and join arrive through its mailbox.
    func register(_ id: SessionID, nick: String, shard: Int, re: String?) -> Result<Nickname, NickError> {
        let now = clock()
        return directory.withLock { directory in
            switch directory.register(id, nick: nick, shard: shard, at: now, re: re) {
            case .failure(let error): return .failure(error)
            case .success(let deliveries):
                route(deliveries, directory)
                return .success(directory.clients[id]!.nick)
            }
        }
    }

    var stats: (clients: Int, rooms: Int) {
        directory.withLock { ($0.clients.count, $0.rooms.count) }
    }

    private func route(_ deliveries: [Delivery], _ directory: borrowing Directory) {
        for delivery in deliveries {
            switch delivery {
            case .event(let event, .room(let key, let sender, let targets)):
                let payload = Payload(event)
                for shard in targets {
                    shards[shard].post(.room(key, payload, sender: sender))
                }
            case .event(let event, .session(let id)):
                guard let shard = directory.clients[id]?.shard else { continue }
                shards[shard].post(.session(id, Payload(event)))
            case .event(let event, .echo(let id)):
                guard let shard = directory.clients[id]?.shard else { continue }
                shards[shard].post(.session(id, Payload(event, echo: true)))
            case .event(let event, .sessions(let ids)):
                var byShard = Array(repeating: [SessionID](), count: shards.count)
                for id in ids {
                    if let shard = directory.clients[id]?.shard { byShard[shard].append(id) }
                }
                let payload = Payload(event)
                for (shard, ids) in byShard.enumerated() where !ids.isEmpty {
                    shards[shard].post(.sessions(ids, payload))
                }
            case .added(let id, let room, let shard):
                shards[shard].post(.added(id, room: room))
            case .removed(let id, let room, let shard):
                shards[shard].post(.removed(id, room: room))
            case .current(let id, let room, let shard):
                shards[shard].post(.current(id, room: room))
            }
        }
    }
}

extension Timestamp {
    /// The wall clock now.
    @Sendable static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
