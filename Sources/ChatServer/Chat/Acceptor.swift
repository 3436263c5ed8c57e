import ChatCore
import Glibc
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// What a listening socket serves.
enum ListenerKind: Hashable, Sendable, CaseIterable {
    /// Chat clients: lines (text, or JSON from the first line).
    case chat
    /// Chat clients over TLS: the same, inside TLS 1.2 or 1.3.
    case chatTLS
    /// The web client: HTTP, and WebSocket at /ws.
    case web
    /// The web client over TLS: HTTPS, and WSS at /ws.
    case webTLS
    /// IRC clients (`irc.listen`).
    case irc
    /// IRC clients over TLS (`irc.tlsListen`).
    case ircTLS

    /// Its clients chat over a WebSocket.
    var isWeb: Bool { self == .web || self == .webTLS }

    var isTLS: Bool { self == .chatTLS || self == .webTLS || self == .ircTLS }

    /// What its clients speak, as the metrics label it: `chat`, `web` or `irc`.
    var transport: String {
        switch self {
        case .chat, .chatTLS: "chat"
        case .web, .webTLS: "web"
        case .irc, .ircTLS: "irc"
        }
    }

    /// Its name in `chatctl stats`, as in socket activation's `FileDescriptorName=`.
    var name: String {
        switch self {
        case .chat: "chat"
        case .chatTLS: "tls"
        case .web: "web"
        case .webTLS: "web-tls"
        case .irc: "irc"
        case .ircTLS: "irc-tls"
        }
    }
}

/// Turns accepted sockets into connections on the event loops: each new socket goes to the next
/// shard in turn, with the pipeline its listener's kind calls for. The parking lot's thread
/// accepts (see `ParkingLot`, which says why chatd accepts by itself) and calls `accept`.
final class Acceptor: Sendable {
    private let hub: Hub
    private let logger: Logger
    private let nextShard = Atomic<Int>(0)
    /// The TLS context for TLS listeners (nil without any).
    private let tls: ServerTLS?

    init(hub: Hub, tls: ServerTLS?, logger: Logger) {
        self.hub = hub
        self.tls = tls
        self.logger = logger
    }

    /// A new connection, on the lot's thread: onto the next shard's loop, as a chat connection
    /// or a web one.
    func accept(_ descriptor: Int32, _ kind: ListenerKind) {
        let shards = hub.shards
        let shard = shards[nextShard.wrappingAdd(1, ordering: .relaxed).oldValue % shards.count]
        let hub = self.hub
        let logger = self.logger
        // Each connection keeps the context it began with: a reload changes only new ones.
        let context = kind.isTLS ? tls?.context : nil
        Self.bootstrap(shard, sendQueueBytes: hub.settings.0.limits.sendQueueBytes, socketOptions: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The pipeline for the client at `peer`: the socket's peer, or the client a
                    // trusted proxy's PROXY header names (then built once the header is read).
                    let build: ProxyHeaderHandler.Proceed = { channel, peer, forwarded in
                        switch kind {
                        case .chat:
                            let handler = ChatConnectionHandler(
                                hub: hub, shard: shard, channel: channel, descriptor: descriptor, logger: logger, peer: peer)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        case .chatTLS:
                            // Never parked: the TLS session lives in the channel, so the socket
                            // cannot leave it (no descriptor for the handler).
                            guard let context else { throw ChannelError.inappropriateOperationForState }
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                            let handler = ChatConnectionHandler(
                                hub: hub, shard: shard, channel: channel, descriptor: nil, logger: logger, listener: .chatTLS, peer: peer)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        case .irc, .ircTLS:
                            if kind == .ircTLS {
                                guard let context else { throw ChannelError.inappropriateOperationForState }
                                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                            }
                            // Parked only without TLS (see `.chatTLS`).
                            let handler = ChatConnectionHandler(
                                hub: hub, shard: shard, channel: channel, descriptor: kind == .irc ? descriptor : nil, logger: logger,
                                listener: kind, dialect: .irc, peer: peer)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        case .web:
                            try WebListener.configure(channel, hub: hub, logger: logger, peer: peer, forwarded: forwarded)
                        case .webTLS:
                            guard let context else { throw ChannelError.inappropriateOperationForState }
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                            try WebListener.configure(channel, hub: hub, logger: logger, peer: peer, forwarded: forwarded, secure: true)
                        }
                    }
                    if hub.settings.0.isTrustedProxy(channel.remoteAddress?.ipBytes) {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyHeaderHandler(hub: hub, logger: logger, acceptsForwardedHTTP: kind.isWeb, proceed: build))
                    } else {
                        try build(channel, channel.remoteAddress, false)
                    }
                }
            }
            .withConnectedSocket(descriptor)
            .whenFailure { error in logger.debug("could not set up an accepted connection", metadata: ["error": "\(error)"]) }
    }

    /// Channel options for a chat connection. The socket options are set once, at accept; a
    /// resumed connection's socket still has them.
    static func bootstrap(_ shard: Shard, sendQueueBytes: Int, socketOptions: Bool) -> ClientBootstrap {
        var bootstrap = ClientBootstrap(group: shard.eventLoop)
            .channelOption(.writeBufferWaterMark, value: .init(low: sendQueueBytes / 2, high: sendQueueBytes))
            .channelOption(.recvAllocator, value: ChatService.receiveAllocator)
        if socketOptions {
            // Keepalive finds half-open connections (a peer gone without a FIN) within about
            // 4 minutes: probes after 2 idle minutes, every 30 s, 4 unanswered probes.
            bootstrap =
                bootstrap
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE)), value: 120)
                .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL)), value: 30)
                .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPCNT)), value: 4)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        }
        return bootstrap
    }
}
