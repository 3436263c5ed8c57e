import ChatCore
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The web listener's pipeline: HTTP/1.1 for the page, upgraded to a WebSocket at `/ws` when the
/// Origin is allowed; the WebSocket then carries the JSON protocol through the same connection
/// handler as TCP clients.
enum WebListener {
    /// Sets up an accepted web connection's pipeline (the parking lot accepts; see `ParkingLot`).
    /// `peer` is the client's address (a trusted proxy's, when it named one). `forwarded`: the
    /// peer is a trusted HTTP proxy, and each request names its client in headers.
    /// `secure`: behind TLS (`web.tlsListen`).
    static func configure(
        _ channel: any Channel, hub: Hub, logger: Logger, peer: SocketAddress?, forwarded: Bool = false, secure: Bool = false
    ) throws {
        let settings = hub.settings.0
        let admission = WebAdmissionHandler(hub: hub, logger: logger, peer: peer, admitsAtConnect: !forwarded)
        let forwardedClient = forwarded ? ForwardedClientHandler(hub: hub, logger: logger, secure: secure) : nil
        let http = WebHTTPHandler(web: settings.web, secure: secure)
        let hostNames = settings.web.hostNames
        let afterUpgrade = NIOLoopBound((http, admission, forwardedClient), eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: settings.limits.maxLineBytes,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.prefix { $0 != "?" }
                let allowed =
                    WebOrigin.allows(host: head.headers.first(name: "Host"), names: hostNames)
                    && WebOrigin.allows(
                        origin: head.headers.first(name: "Origin"), host: head.headers.first(name: "Host"),
                        allowed: settings.web.allowedOrigins)
                // nil refuses the upgrade: the request then reaches WebHTTPHandler, which says why.
                return channel.eventLoop.makeSucceededFuture(path == "/ws" && allowed ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let shard = hub.shard(for: channel.eventLoop)
                    let peer = afterUpgrade.value.2.map(\.client) ?? peer
                    let adapter = WebSocketChatAdapter(
                        maxMessageBytes: settings.limits.maxLineBytes, pingIntervalSeconds: settings.web.pingIntervalSeconds,
                        pingTimeoutSeconds: settings.web.pingTimeoutSeconds)
                    try channel.pipeline.syncOperations.addHandler(adapter)
                    try channel.pipeline.syncOperations.addHandler(
                        ChatConnectionHandler(
                            hub: hub, shard: shard, channel: channel, logger: logger, listener: secure ? .webTLS : .web, peer: peer))
                }
            }
        )
        try channel.pipeline.syncOperations.addHandler(admission)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // The page handler has nothing left to do, nor has the request deadline.
                    let (http, admission, forwardedClient) = afterUpgrade.value
                    context.pipeline.syncOperations.removeHandler(http, promise: nil)
                    admission.upgradedToWebSocket()
                    if let forwardedClient {
                        forwardedClient.upgraded(context)
                        context.pipeline.syncOperations.removeHandler(forwardedClient, promise: nil)
                    }
                }
            )
        )
        if let forwardedClient {
            // Before the upgrader, which must see only the requests it admits.
            let upgrader = try channel.pipeline.syncOperations.handler(type: HTTPServerUpgradeHandler.self)
            try channel.pipeline.syncOperations.addHandler(forwardedClient, position: .before(upgrader))
        }
        try channel.pipeline.syncOperations.addHandler(http)
    }
}
