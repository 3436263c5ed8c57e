import ChatCore
import Logging
import NIOCore

/// The first handler of a connection from a trusted proxy (`proxy.trusted`): reads the PROXY
/// protocol header (version 1 or 2) that must open it, then builds the connection's pipeline
/// for the client the header names, so that admission, bans, `chatctl who` and the logs all see
/// the client's own address; and steps aside, passing on whatever followed the header. A
/// connection that does not open with a valid header within `timeout` is refused and closed.
///
/// On a web listener, a trusted proxy may instead be an HTTP proxy (nginx's `proxy_pass`) that
/// names each request's client in `Forwarded` or `X-Forwarded-For`: a connection that opens
/// with anything but a PROXY header is then built for that (`forwardedHTTP`), and the client
/// is read from each request (`ForwardedClientHandler`).
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Builds the rest of the pipeline for the client at `peer`, or, with `forwardedHTTP`, for
    /// requests that name their clients in headers (`peer` is then the proxy).
    typealias Proceed = (_ channel: any Channel, _ peer: SocketAddress?, _ forwardedHTTP: Bool) throws -> Void

    static let timeout = TimeAmount.seconds(10)

    private let hub: Hub
    private let logger: Logger
    private let proceed: Proceed
    /// Whether the connection may be HTTP naming its clients in headers (web listeners).
    private let acceptsForwardedHTTP: Bool
    private var received: ByteBuffer?
    private var deadline: Scheduled<Void>?
    private var done = false

    init(hub: Hub, logger: Logger, acceptsForwardedHTTP: Bool, proceed: @escaping Proceed) {
        self.hub = hub
        self.logger = logger
        self.acceptsForwardedHTTP = acceptsForwardedHTTP
        self.proceed = proceed
    }

    func channelActive(context: ChannelHandlerContext) {
        // Held back: the handlers after this one see the connection once the header named its client.
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeout) { [self] in
            refuse(context, "no PROXY header within \(Self.timeout.nanoseconds / 1_000_000_000) s")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if received == nil {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        guard var buffer = received else { return }
        switch ProxyHeader.parse(buffer.readableBytesView) {
        case .incomplete:
            return
        case .absent where acceptsForwardedHTTP:
            proceed(with: buffer, context, peer: context.channel.remoteAddress, forwardedHTTP: true)
        case .absent:
            refuse(context, "no PROXY header")
        case .invalid(let why):
            refuse(context, why)
        case .complete(let client, let length):
            buffer.moveReaderIndex(forwardBy: length)
            var peer = context.channel.remoteAddress
            if let client {
                peer = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: client.address), port: client.port)
            }
            proceed(with: buffer, context, peer: peer, forwardedHTTP: false)
        }
    }

    /// Builds the pipeline, hands it what followed the header, and steps aside.
    private func proceed(with buffer: ByteBuffer, _ context: ChannelHandlerContext, peer: SocketAddress?, forwardedHTTP: Bool) {
        done = true
        deadline?.cancel()
        received = nil
        do {
            try proceed(context.channel, peer, forwardedHTTP)
        } catch {
            logger.debug("could not set up a proxied connection", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
        if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if done { context.fireChannelInactive() }
    }

    private func refuse(_ context: ChannelHandlerContext, _ why: String) {
        guard !done else { return }
        done = true
        deadline?.cancel()
        let proxy = context.channel.remoteAddress.map(SocketAddress.describe) ?? "unknown"
        hub.shard(for: context.eventLoop).countRefusal(.proxyHeader, hub: hub, logger: logger, peer: proxy, kind: why)
        context.close(promise: nil)
    }
}
