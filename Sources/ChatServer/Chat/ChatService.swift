import ChatCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Accepts chat clients on every configured address until graceful shutdown, then stops
/// accepting, tells every client why, and closes them within the configured time.
final class ChatService: Service {
    let hub: Hub
    /// Accepts chat connections and parks the idle ones.
    private let parking: Parking
    private let group: MultiThreadedEventLoopGroup
    private let config: Config
    private let logger: Logger
    private let onListening: @Sendable ([SocketAddress]) -> Void
    /// Listening sockets passed by systemd (socket activation); when there are any, they are
    /// used instead of binding `config.listen`.
    private let inherited: [Int32]
    /// Web sockets passed by systemd (FileDescriptorName=web), used instead of `web.listen`.
    private let inheritedWeb: [Int32]

    init(
        config: Config, group: MultiThreadedEventLoopGroup, logger: Logger, inherited: [Int32] = [], inheritedWeb: [Int32] = [],
        onListening: @escaping @Sendable ([SocketAddress]) -> Void = { _ in }
    ) {
        self.inherited = inherited
        self.inheritedWeb = inheritedWeb
        self.config = config
        self.group = group
        self.logger = logger
        self.onListening = onListening
        let shards = group.makeIterator().enumerated().map { Shard(index: $0.offset, eventLoop: $0.element) }
        self.hub = Hub(shards: shards, settings: ConnectionSettings(config), defaultRoom: config.defaultRoomName)
        self.parking = Parking(hub: hub, logger: logger)
    }

    func run() async throws {
        // The chat listeners are plain sockets: the parking lot accepts (see `ParkingLot`).
        var listeners: [(descriptor: Int32, address: SocketAddress)] = []
        do {
            if inherited.isEmpty {
                for address in config.listen {
                    do {
                        listeners.append(try Listening.bind(host: address.host, port: address.port))
                    } catch {
                        throw StartupError("cannot listen on \(address): \(error)")
                    }
                }
            } else {
                logger.info("using \(inherited.count) chat socket(s) passed by systemd; the config's listen addresses are not bound")
                for descriptor in inherited {
                    do {
                        listeners.append((descriptor, try Listening.adopt(descriptor)))
                    } catch {
                        throw StartupError("cannot use the socket systemd passed (fd \(descriptor)): \(error)")
                    }
                }
            }
        } catch {
            for listener in listeners { close(listener.descriptor) }
            throw error
        }
        let addresses = listeners.map(\.address)
        for address in addresses {
            logger.notice("listening for chat clients on \(Self.describe(address))")
        }
        let webListeners: [any Channel]
        do {
            webListeners = try await bindWeb()
        } catch {
            for listener in listeners { close(listener.descriptor) }
            throw error
        }
        for address in webListeners.compactMap(\.localAddress) {
            logger.notice("serving the web client on http://\(Self.describe(address))/")
        }
        hub.webPort = webListeners.first?.localAddress?.port
        do {
            try parking.start(listeners: listeners.map(\.descriptor))
        } catch {
            for listener in listeners { close(listener.descriptor) }
            for listener in webListeners { try? await listener.close() }
            throw StartupError("cannot start accepting chat clients: \(error)")
        }
        onListening(addresses)

        // Serve until graceful shutdown (SIGTERM, SIGINT) or cancellation, forgetting idle
        // per-address admission entries now and then.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                self.hub.pruneAdmission()
            }
        }

        logger.notice("shutting down", metadata: ["clients": "\(hub.stats.clients)"])
        await parking.closeListeners()
        for listener in webListeners { try? await listener.close() }
        await closeAllClients(reason: "Server shutting down")
        await parking.stop()
        logger.notice("all clients closed")
    }

    /// The web client's listeners: systemd's `web` sockets, or `web.listen` when it is enabled.
    private func bindWeb() async throws -> [any Channel] {
        let bootstrap = WebListener.bootstrap(group: group, hub: hub, logger: logger)
        var bound: [any Channel] = []
        do {
            if !inheritedWeb.isEmpty {
                for descriptor in inheritedWeb {
                    do {
                        bound.append(try await bootstrap.withBoundSocket(descriptor).get())
                    } catch {
                        throw StartupError("cannot use the web socket systemd passed (fd \(descriptor)): \(error)")
                    }
                }
            } else if config.web.enabled {
                for address in config.web.listen {
                    do {
                        bound.append(try await bootstrap.bind(host: address.host, port: address.port).get())
                    } catch {
                        throw StartupError("cannot serve the web client on \(address): \(error)")
                    }
                }
            }
        } catch {
            for listener in bound { try? await listener.close() }
            throw error
        }
        return bound
    }

    /// A connection keeps its last receive buffer for the next read, for as long as it lives:
    /// NIO's default starts at 2 KiB, a third of what an idle chat connection cost. Chat lines
    /// are short, so start at 128 bytes; a client that sends more grows it (up to 64 KiB).
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 128, maximum: 65536)

    /// Sends every client its goodbye and waits for the connections to close, up to
    /// `shutdownTimeoutSeconds`; whatever is still open then is cut off.
    private func closeAllClients(reason: String) async {
        let request = CloseRequest(reason: reason, notify: false, kind: .goingAway)
        let closed = hub.shards.map { $0.closeAll(request) }
        let allClosed = EventLoopFuture.andAllComplete(closed, on: group.next())
        let timeout = config.shutdownTimeoutSeconds
        let inTime = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await allClosed.get()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                return false
            }
            let first = await group.next() ?? true
            if !first {
                for shard in self.hub.shards { shard.forceCloseAll() }
            }
            group.cancelAll()
            return first
        }
        if !inTime { logger.warning("clients still open after \(timeout)s were cut off") }
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}

/// A problem that keeps the daemon from starting, with a message for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

public enum ChatServerInfo {
    public static let version = ChatdVersion.current
}

extension Shard {
    /// Asks every connection on this loop to say goodbye and close (bringing parked ones back
    /// to do it); completes when all are closed.
    func closeAll(_ request: CloseRequest) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let closed = self.members.map { member in
                self.request(request, of: member).flatMap(\.closeFuture)
            }
            return EventLoopFuture.andAllComplete(closed, on: self.eventLoop)
        }
    }

    /// Closes every connection on this loop at once.
    func forceCloseAll() {
        eventLoop.execute {
            for member in Array(self.members) {
                if let channel = member.channel {
                    channel.close(promise: nil)
                } else {
                    _ = self.request(CloseRequest(reason: "Server shutting down", notify: false, kind: .goingAway), of: member)
                }
            }
        }
    }
}
