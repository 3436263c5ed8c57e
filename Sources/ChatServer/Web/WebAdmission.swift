import ChatCore
import Logging
import NIOCore
import NIOHTTP1

/// The first handler of every web connection: admits it as the chat port admits its clients
/// (bans, draining, `limits.maxClients` in total, `limits.maxClientsPerAddress` and the connect
/// rate per address), so a page request counts like a chat connection, and so does the
/// WebSocket it becomes. Refused, the client reads a plain HTTP error with the reason and the
/// connection closes; admitted, it counts until it closes. It also sees the bytes before the
/// HTTP decoder does, so it owns the request deadline: a request must be complete within
/// `web.requestTimeoutSeconds` of the connection opening or of the previous response, however
/// slowly its bytes trickle in (slow-loris), or the connection closes.
final class WebAdmissionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hub: Hub
    private let logger: Logger
    private let requestTimeout: TimeAmount
    private var address: [UInt8]?
    private var admitted = false
    private var refused = false
    private var deadline: Scheduled<Void>?

    /// The client's address: the socket's peer, or the one a trusted proxy named.
    private let peer: SocketAddress?
    /// False for a trusted HTTP proxy's connection: its requests are admitted by the client
    /// each names (`ForwardedClientHandler`), not by the proxy's address.
    private let admitsAtConnect: Bool

    init(hub: Hub, logger: Logger, peer: SocketAddress?, admitsAtConnect: Bool = true) {
        self.hub = hub
        self.logger = logger
        self.peer = peer
        self.admitsAtConnect = admitsAtConnect
        self.requestTimeout = .seconds(Int64(hub.settings.0.web.requestTimeoutSeconds))
    }

    func channelActive(context: ChannelHandlerContext) {
        guard admitsAtConnect else {
            armDeadline(context)
            context.fireChannelActive()
            return
        }
        address = peer?.ipBytes
        if let refusal = hub.admit(address: address) {
            refused = true
            let shard = hub.shard(for: context.eventLoop)
            shard.countRefusal(refusal.reason, hub: hub, logger: logger, peer: peer.map(SocketAddress.describe) ?? "unknown")
            // Sent, then the sending side is shut and what the client sends is read and dropped
            // until it closes (at most a second): closing with its request unread would reset the
            // connection, and the client could lose the response.
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: Self.refusal(refusal.reason, refusal.message)))).assumeIsolated()
                .whenComplete { _ in context.close(mode: .output, promise: nil) }
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
            return
        }
        admitted = address != nil  // counted by its IP, so released by it
        armDeadline(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // a refused client's request is not read
        context.fireChannelRead(data)
    }

    /// A response is being written: the clock starts again for the next request (each part of
    /// the response restarts it; the last one counts). Every response ends its request, since
    /// nothing chatd serves takes a body.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if deadline != nil { armDeadline(context) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if admitted, let address {
            admitted = false
            hub.release(address: address)
        }
        context.fireChannelInactive()
    }

    /// The connection became a WebSocket: it has its own keepalive (pings) from now on, and
    /// still counts against the limits until it closes.
    func upgradedToWebSocket() {
        deadline?.cancel()
        deadline = nil
    }

    private func armDeadline(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) {
            context.close(promise: nil)
        }
    }

    /// The raw HTTP response a refused connection gets (see `status(for:)`), with the same
    /// sentence a chat client would read.
    static func refusal(_ reason: Refusal, _ message: String) -> String {
        let status = status(for: reason)
        let body = message + "\r\n"
        return "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\n" + (reason.isTemporary ? "Retry-After: 10\r\n" : "")
            + "Connection: close\r\n\r\n" + body
    }

    /// 403 for a ban, 429 for the connect rate, 400 for a proxy that did not name its client,
    /// 503 otherwise.
    static func status(for reason: Refusal) -> HTTPResponseStatus {
        switch reason {
        case .banned: .forbidden
        case .connectRate: .tooManyRequests
        case .proxyHeader: .badRequest
        default: .serviceUnavailable
        }
    }
}

@available(*, unavailable)
extension WebAdmissionHandler: Sendable {}
