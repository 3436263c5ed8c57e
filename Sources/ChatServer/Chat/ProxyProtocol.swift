import ChatCore
import Logging
import NIOCore

/// The first handler of a connection from a trusted proxy (`proxy.trusted`): reads the PROXY
/// protocol header (version 1 or 2) that must open it, then builds the connection's pipeline
/// for the client the header names, so that admission, bans, `chatctl who` and the logs all see
/// the client's own address; and steps aside, passing on whatever followed the header. A
/// connection that does not open with a valid header within `timeout` is refused and closed.
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Builds the rest of the pipeline for the client at this address.
    typealias Proceed = (any Channel, SocketAddress?) throws -> Void

    static let timeout = TimeAmount.seconds(10)

    private let hub: Hub
    private let logger: Logger
    private let proceed: Proceed
    private var received: ByteBuffer?
    private var deadline: Scheduled<Void>?
    private var done = false

    init(hub: Hub, logger: Logger, proceed: @escaping Proceed) {
        self.hub = hub
        self.logger = logger
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
        case .invalid(let why):
            refuse(context, why)
        case .complete(let client, let length):
            done = true
            deadline?.cancel()
            buffer.moveReaderIndex(forwardBy: length)
            received = nil
            var peer = context.channel.remoteAddress
            if let client {
                peer = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: client.address), port: client.port)
            }
            do {
                try proceed(context.channel, peer)
            } catch {
                logger.debug("could not set up a proxied connection", metadata: ["error": "\(error)"])
                context.close(promise: nil)
                return
            }
            context.fireChannelActive()
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
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
