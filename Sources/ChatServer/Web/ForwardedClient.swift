import ChatCore
import Logging
import NIOCore
import NIOHTTP1

/// On a web connection from a trusted HTTP proxy (nginx's `proxy_pass`, which has no PROXY
/// header to send): names each request's client from its `Forwarded` or `X-Forwarded-For`
/// header (`Forwarded.client`), and admits it as `WebAdmissionHandler` admits a direct client.
/// A request that names no client gets 400; one from a banned address 403, and any while
/// draining 503; a WebSocket upgrade counts against the limits as its client's connection
/// (refused like a direct one when over them) until it closes, and the chat connection it
/// becomes has its client's address (`client`). Sits between the HTTP codec and the upgrader.
final class ForwardedClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let hub: Hub
    private let logger: Logger
    private let secure: Bool
    /// The address admitted for the WebSocket, released when the connection closes.
    private var admitted: [UInt8]?
    /// The current request was refused: its body and end are dropped.
    private var refusing = false
    /// The client the current request names, as logged.
    private var named: String?
    /// The client of the WebSocket upgrade, for its chat connection.
    private(set) var client: SocketAddress?

    init(hub: Hub, logger: Logger, secure: Bool) {
        self.hub = hub
        self.logger = logger
        self.secure = secure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            refusing = false
            if let (reason, message) = refusal(for: head) {
                refusing = true
                let proxy = context.channel.remoteAddress.map(SocketAddress.describe) ?? "unknown"
                let peer = named.map { "\($0) via \(proxy)" } ?? proxy
                hub.shard(for: context.eventLoop).countRefusal(reason, hub: hub, logger: logger, peer: peer, kind: "forwarded")
                let retry: [(String, String)] = reason.isTemporary && reason != .proxyHeader ? [("Retry-After", "10")] : []
                // An error status: the response closes the connection.
                WebHTTPHandler.send(
                    WebAdmissionHandler.status(for: reason), body: Array((message + "\r\n").utf8), extra: retry, secure: secure, head,
                    context)
                return
            }
            context.fireChannelRead(data)
        case .body, .end:
            if !refusing { context.fireChannelRead(data) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let admitted {
            self.admitted = nil
            hub.release(address: admitted)
        }
        context.fireChannelInactive()
    }

    /// The connection became a WebSocket: the rest is frames, so this handler leaves the
    /// pipeline, and its admission is released when the connection closes.
    func upgraded(_ context: ChannelHandlerContext) {
        if let admitted {
            self.admitted = nil
            let hub = self.hub
            context.channel.closeFuture.whenComplete { _ in hub.release(address: admitted) }
        }
    }

    /// Why `head` must be refused, if it must; for a WebSocket upgrade, its admission.
    private func refusal(for head: HTTPRequestHead) -> (Refusal, String)? {
        let settings = hub.settings.0
        let client = Forwarded.client(
            forwarded: head.headers["Forwarded"], forwardedFor: head.headers["X-Forwarded-For"],
            isTrusted: { settings.isTrustedProxy($0) })
        let address: [UInt8]
        named = nil
        switch client {
        case .address(let bytes):
            address = bytes
            named = (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 0)).flatMap(\.ipAddress)
        case .missing:
            return (
                .proxyHeader,
                "This request came through a proxy in proxy.trusted that did not say whose it is (Forwarded or X-Forwarded-For)."
            )
        case .unnamed(let hop):
            return (.proxyHeader, "The proxy named the client as \(Sanitizer.cleanArgument(hop)), which is not an address.")
        }
        let isUpgrade = head.uri.prefix { $0 != "?" } == "/ws" && head.headers["Upgrade"].contains { $0.lowercased() == "websocket" }
        guard isUpgrade, admitted == nil else { return hub.barred(address: address) }
        if let refusal = hub.admit(address: address) { return refusal }
        admitted = address
        self.client = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: address), port: 0)
        return nil
    }
}

@available(*, unavailable)
extension ForwardedClientHandler: Sendable {}
