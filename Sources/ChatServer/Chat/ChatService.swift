import ChatCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

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
    /// TLS chat sockets passed by systemd (FileDescriptorName=tls), used instead of `tls.listen`.
    private let inheritedTLS: [Int32]
    /// HTTPS sockets for the web client passed by systemd (FileDescriptorName=web-tls).
    private let inheritedWebTLS: [Int32]
    /// IRC sockets passed by systemd (FileDescriptorName=irc), used instead of `irc.listen`.
    private let inheritedIRC: [Int32]
    /// IRC-over-TLS sockets passed by systemd (FileDescriptorName=irc-tls).
    private let inheritedIRCTLS: [Int32]

    init(
        hub: Hub, config: Config, group: MultiThreadedEventLoopGroup, logger: Logger, tls: ServerTLS? = nil, inherited: [Int32] = [],
        inheritedWeb: [Int32] = [], inheritedTLS: [Int32] = [], inheritedWebTLS: [Int32] = [], inheritedIRC: [Int32] = [],
        inheritedIRCTLS: [Int32] = [], onListening: @escaping @Sendable ([SocketAddress]) -> Void = { _ in }
    ) {
        self.hub = hub
        self.inherited = inherited
        self.inheritedWeb = inheritedWeb
        self.inheritedTLS = inheritedTLS
        self.inheritedWebTLS = inheritedWebTLS
        self.inheritedIRC = inheritedIRC
        self.inheritedIRCTLS = inheritedIRCTLS
        self.config = config
        self.group = group
        self.logger = logger
        self.onListening = onListening
        self.parking = Parking(hub: hub, tls: tls, logger: logger)
    }

    func run() async throws {
        // The listeners are plain sockets: the parking lot accepts (see `ParkingLot`).
        var listeners: [(descriptor: Int32, address: SocketAddress)] = []
        var webListeners: [(descriptor: Int32, address: SocketAddress)] = []
        var tlsListeners: [(descriptor: Int32, address: SocketAddress)] = []
        var webTLSListeners: [(descriptor: Int32, address: SocketAddress)] = []
        var ircListeners: [(descriptor: Int32, address: SocketAddress)] = []
        var ircTLSListeners: [(descriptor: Int32, address: SocketAddress)] = []
        do {
            listeners = try Self.listeners(inherited: inherited, configured: config.listen, what: "chat", logger: logger)
            if !inheritedTLS.isEmpty || !config.tls.listen.isEmpty {
                tlsListeners = try Self.listeners(inherited: inheritedTLS, configured: config.tls.listen, what: "TLS chat", logger: logger)
            }
            if !inheritedWeb.isEmpty || config.web.enabled {
                webListeners = try Self.listeners(inherited: inheritedWeb, configured: config.web.listen, what: "web", logger: logger)
            }
            if !inheritedWebTLS.isEmpty || (config.web.enabled && !config.web.tlsListen.isEmpty) {
                webTLSListeners = try Self.listeners(
                    inherited: inheritedWebTLS, configured: config.web.tlsListen, what: "web", logger: logger)
            }
            if !inheritedIRC.isEmpty || !config.irc.listen.isEmpty {
                ircListeners = try Self.listeners(inherited: inheritedIRC, configured: config.irc.listen, what: "IRC", logger: logger)
            }
            if !inheritedIRCTLS.isEmpty || !config.irc.tlsListen.isEmpty {
                ircTLSListeners = try Self.listeners(
                    inherited: inheritedIRCTLS, configured: config.irc.tlsListen, what: "IRC over TLS", logger: logger)
            }
            for listener in listeners { logger.notice("listening for chat clients on \(SocketAddress.describe(listener.address))") }
            for listener in ircListeners { logger.notice("listening for IRC clients on \(SocketAddress.describe(listener.address))") }
            for listener in ircTLSListeners {
                logger.notice("listening for IRC clients over TLS on \(SocketAddress.describe(listener.address))")
            }
            for listener in tlsListeners {
                logger.notice("listening for chat clients over TLS on \(SocketAddress.describe(listener.address))")
            }
            for listener in webListeners { logger.notice("serving the web client on http://\(SocketAddress.describe(listener.address))/") }
            for listener in webTLSListeners {
                logger.notice("serving the web client on https://\(SocketAddress.describe(listener.address))/")
            }
            hub.webPort =
                webListeners.first?.address.port.map { WebPort(port: $0, secure: false) }
                ?? webTLSListeners.first?.address.port.map { WebPort(port: $0, secure: true) }
            var kinds: [Int32: ListenerKind] = [:]
            for listener in listeners { kinds[listener.descriptor] = .chat }
            for listener in webListeners { kinds[listener.descriptor] = .web }
            for listener in tlsListeners { kinds[listener.descriptor] = .chatTLS }
            for listener in webTLSListeners { kinds[listener.descriptor] = .webTLS }
            for listener in ircListeners { kinds[listener.descriptor] = .irc }
            for listener in ircTLSListeners { kinds[listener.descriptor] = .ircTLS }
            do {
                try parking.start(listeners: kinds)
            } catch {
                throw StartupError("cannot start accepting clients: \(error)")
            }
        } catch {
            for listener in listeners + webListeners + tlsListeners + webTLSListeners + ircListeners + ircTLSListeners {
                close(listener.descriptor)
            }
            throw error
        }
        onListening(listeners.map(\.address))

        // Serve until graceful shutdown (SIGTERM, SIGINT) or cancellation, forgetting idle
        // per-address admission entries now and then.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                self.hub.pruneAdmission()
            }
        }

        hub.stopping.store(true, ordering: .relaxed)
        logger.notice("shutting down", metadata: ["clients": "\(hub.stats.clients)"])
        await parking.closeListeners()
        await closeAllClients(reason: "Server shutting down")
        await parking.stop()
        logger.notice("all clients closed")
    }

    /// The sockets passed by systemd for `what` ("chat" or "web") when there are any, else
    /// `configured` bound; on failure none is left open.
    private static func listeners(
        inherited: [Int32], configured: [HostAndPort], what: String, logger: Logger
    ) throws -> [(descriptor: Int32, address: SocketAddress)] {
        var bound: [(descriptor: Int32, address: SocketAddress)] = []
        do {
            if inherited.isEmpty {
                for address in configured {
                    do {
                        bound.append(try Listening.bind(host: address.host, port: address.port))
                    } catch {
                        let reason = (error as? SystemCallError)?.reason ?? "\(error)"
                        throw StartupError(
                            what == "web"
                                ? "cannot serve the web client on \(address): \(reason)" : "cannot listen on \(address): \(reason)")
                    }
                }
            } else {
                logger.info("using \(inherited.count) \(what) socket(s) passed by systemd; the config's \(what) addresses are not bound")
                for descriptor in inherited {
                    do {
                        bound.append((descriptor, try Listening.adopt(descriptor)))
                    } catch {
                        throw StartupError("cannot use the \(what) socket systemd passed (fd \(descriptor)): \(error)")
                    }
                }
            }
        } catch {
            for listener in bound { close(listener.descriptor) }
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
        let request = CloseRequest(reason: reason, notify: false, code: .shutdown)
        let closed = hub.shards.map { $0.closeAll(request) }
        let allClosed = EventLoopFuture.andAllComplete(closed, on: group.next())
        let timeout = config.shutdownTimeoutSeconds
        let inTime = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await allClosed.get()
                return true
            }
            group.addTask {
                // Not cancelled with this task (a failed start cancels the whole service group):
                // the clients still get their time to say goodbye.
                await Task.detached { try? await Task.sleep(for: .milliseconds(Int(timeout * 1000))) }.value
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
                    _ = self.request(CloseRequest(reason: "Server shutting down", notify: false, code: .shutdown), of: member)
                }
            }
        }
    }
}
