import ChatCore
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Idle connections leave their event loop and come back: the one seam for parking. A parked
/// connection's socket waits in the `ParkingLot` (whose thread also runs the `Acceptor`), its
/// `ParkedConnection` in its `LocalMember`; it is resumed onto its own loop when it speaks.
final class Parking: Sendable {
    let hub: Hub
    private let logger: Logger
    private let lot = Mutex<ParkingLot?>(nil)
    private let acceptor: Acceptor

    init(hub: Hub, tls: ServerTLS?, logger: Logger) {
        self.hub = hub
        self.logger = logger
        self.acceptor = Acceptor(hub: hub, tls: tls, logger: logger)
    }

    /// Starts accepting on `listeners` (taking them over) and parking idle connections.
    func start(listeners: [Int32: ListenerKind]) throws {
        let hub = self.hub
        let acceptor = self.acceptor
        let lot = try ParkingLot(
            listeners: listeners, logger: logger,
            accepted: { descriptor, kind in acceptor.accept(descriptor, kind) },
            ready: { shard, id in
                guard shard < hub.shards.count else { return }
                hub.shards[shard].parkedReady(id)
            })
        self.lot.withLock { $0 = lot }
        lot.start()
        for shard in hub.shards { shard.startParking(self) }
    }

    /// Stops accepting new connections.
    func closeListeners() async {
        await lot.withLock { $0 }?.closeListeners()
    }

    /// Stops parking and ends the lot's thread (at shutdown, once every client is closed).
    func stop() async {
        for shard in hub.shards { try? await shard.stopParking().get() }
        lot.withLock { lot in
            lot?.stop()
            lot = nil
        }
    }

    /// `limits.parkIdleSeconds` now.
    var idleSeconds: Int { hub.settings.0.limits.parkIdleSeconds }

    // MARK: Parking

    /// Parks `member`, whose connection is idle (`ConnectionLife.mayPark`), if nothing waits to
    /// be sent to it: its socket is duplicated into the lot, and `parked` kept in the member for
    /// the handler that resumes it. The caller then closes the channel; the member stays in its
    /// rooms. False if it cannot be parked now (a WebSocket, output pending, no descriptor free).
    func park(_ member: LocalMember, _ parked: ParkedConnection, _ channel: any Channel) -> Bool {
        guard let descriptor = member.descriptor, !member.hasOutput, member.replyBytes == 0, channel.isWritable,
            let options = channel.syncOptions,
            (try? options.getOption(.bufferedWritableBytes)) == 0, (try? options.getOption(.autoRead)) == true,
            let shard = hub.shards.first(where: { $0.eventLoop === channel.eventLoop })
        else { return false }
        let spare = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard spare >= 0 else { return false }  // out of descriptors: it stays on the loop
        guard lot.withLock({ $0 })?.watch(spare, shard: shard.index, id: member.id) ?? false else {
            close(spare)
            return false
        }
        member.parked = parked
        member.descriptor = spare
        member.context = nil
        member.connection = nil
        member.channel = nil
        return true
    }

    // MARK: Resuming

    /// Brings `member`'s parked socket back onto its loop (called on that loop), with a handler
    /// that carries on where the parked one stopped.
    func resume(_ member: LocalMember) -> EventLoopFuture<any Channel>? {
        guard let parked = member.parked, let descriptor = member.descriptor,
            let loop = MultiThreadedEventLoopGroup.currentEventLoop
        else { return nil }
        let shard = hub.shard(for: loop)
        lot.withLock { $0 }?.unwatch(descriptor)
        member.parked = nil
        let hub = self.hub
        let logger = self.logger
        let loopMember = NIOLoopBound(member, eventLoop: shard.eventLoop)
        let future = Acceptor.bootstrap(shard, sendQueueBytes: member.sendQueueLimit, socketOptions: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ChatConnectionHandler(resuming: loopMember.value, parked, hub: hub, shard: shard, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .withConnectedSocket(descriptor)
        future.whenFailure { error in
            // The socket could not be put back (it is closed by now): the connection ends here.
            let member = loopMember.value
            logger.info("disconnected", metadata: ["session": "\(member.id)", "nick": "\(parked.nick)", "error": "\(error)"])
            shard.ended(member, parked.admitted, .init(reason: "Connection error", cause: .error), hub: hub)
        }
        return future
    }
}

/// A connection that can be parked: the shard's idle sweep asks it (`Shard.parkIdle`).
protocol ParkableConnection: AnyObject {
    /// Parks the connection if it is idle; true if it was.
    func parkIfIdle(_ parking: Parking) -> Bool
}

/// What a parked connection's handler needs to carry on exactly where it left off: what its life
/// keeps while parked (dialect, registration, telnet state, counters), and what the handler
/// knew. Everything else it had is in its `LocalMember`.
struct ParkedConnection {
    var life: ConnectionLife.Parked
    /// The registered nick, as shown, and the peer as logged.
    var nick: String
    var peer: String
    /// Whether the connection counts against the connection limits (`Hub.release` on close).
    var admitted: Bool
    /// A close asked for while parked (kick, ban, shutdown), carried out once it is back.
    var pendingClose: CloseRequest?
}
