import ChatCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The web listener's pipeline: HTTP/1.1 for the page, upgraded to a WebSocket at `/ws` when the
/// Origin is allowed; the WebSocket then carries the JSON protocol through the same connection
/// handler as TCP clients.
enum WebListener {
    /// Seconds an HTTP connection may sit idle (keep-alive) before it is closed.
    static let idleSeconds: Int64 = 30

    static func bootstrap(group: any EventLoopGroup, hub: Hub, logger: Logger) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: ChatService.receiveAllocator)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel, hub: hub, logger: logger)
                }
            }
    }

    private static func configure(_ channel: any Channel, hub: Hub, logger: Logger) throws {
        let settings = hub.settings.0
        let queue = settings.limits.sendQueueBytes
        channel.setOption(.writeBufferWaterMark, value: .init(low: queue / 2, high: queue)).whenFailure { _ in }
        let http = WebHTTPHandler(allowedOrigins: settings.web.allowedOrigins)
        let idle = IdleStateHandler(readTimeout: .seconds(idleSeconds))
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: settings.limits.maxLineBytes,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.prefix { $0 != "?" }
                let allowed = WebOrigin.allows(
                    origin: head.headers.first(name: "Origin"), host: head.headers.first(name: "Host"),
                    allowed: settings.web.allowedOrigins)
                // nil refuses the upgrade: the request then reaches WebHTTPHandler, which says why.
                return channel.eventLoop.makeSucceededFuture(path == "/ws" && allowed ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let shard = hub.shard(for: channel.eventLoop)
                    let adapter = WebSocketChatAdapter(
                        maxMessageBytes: settings.limits.maxLineBytes, pingIntervalSeconds: settings.web.pingIntervalSeconds,
                        pingTimeoutSeconds: settings.web.pingTimeoutSeconds)
                    try channel.pipeline.syncOperations.addHandler(adapter)
                    try channel.pipeline.syncOperations.addHandler(
                        ChatConnectionHandler(hub: hub, shard: shard, channel: channel, logger: logger, transport: .webSocket))
                }
            }
        )
        let afterUpgrade = NIOLoopBound((http, idle), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(idle)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // The WebSocket has its own keepalive; the page handler has nothing left to do.
                    let (http, idle) = afterUpgrade.value
                    context.pipeline.syncOperations.removeHandler(http, promise: nil)
                    context.pipeline.syncOperations.removeHandler(idle, promise: nil)
                }
            )
        )
        try channel.pipeline.syncOperations.addHandler(http)
    }
}
