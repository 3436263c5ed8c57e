import ChatCore
import NIOCore
import NIOWebSocket

/// Carries chatd's JSON-lines protocol over a WebSocket, under the same `ChatConnectionHandler`
/// as TCP clients (so the same flood, size, send-queue and admission rules apply): each text
/// message in is one request line, each event line out is one text message.
///
/// It also does the WebSocket's own housekeeping: fragmented messages (bounded by the line
/// limit), masking, ping/pong and a keepalive with a timeout, close handshakes, and close codes
/// with reasons (1000 quit, 1001 shutdown or ping timeout, 1003 binary data, 1007 invalid UTF-8,
/// 1008 a broken rule, 1009 too big, 1013 try again later).
final class WebSocketChatAdapter: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private let maxMessageBytes: Int
    private let pingInterval: TimeAmount
    private let pingTimeout: TimeAmount
    /// A text message arriving in fragments.
    private var message: ByteBuffer?
    /// Event bytes after the last newline, waiting for the rest of their line.
    private var partialLine: ByteBuffer?
    /// Why the chat handler is closing the connection, once it said so.
    private var closing: ClosingConnection?
    private var sentClose = false
    private var receivedClose = false
    private var lastHeard = NIODeadline.now()
    private var pingSent: NIODeadline?
    private var keepalive: Scheduled<Void>?

    init(maxMessageBytes: Int, pingIntervalSeconds: Int, pingTimeoutSeconds: Int) {
        self.maxMessageBytes = maxMessageBytes
        pingInterval = .seconds(Int64(pingIntervalSeconds))
        pingTimeout = .seconds(Int64(pingTimeoutSeconds))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        scheduleKeepalive(context)
    }

    private func scheduleKeepalive(_ context: ChannelHandlerContext) {
        keepalive = context.eventLoop.assumeIsolated().scheduleTask(in: min(pingInterval, pingTimeout)) {
            self.checkAlive(context)
            if context.channel.isActive { self.scheduleKeepalive(context) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        keepalive?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepalive?.cancel()
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastHeard = .now()
        pingSent = nil
        guard !receivedClose else { return }
        // RFC 6455 5.1: a server must close the connection on an unmasked client frame.
        guard frame.maskKey != nil else { return fail(.protocolError, "Client frames must be masked.", context) }
        switch frame.opcode {
        case .text:
            guard message == nil else { return fail(.protocolError, "A new message began before the last one ended.", context) }
            collect(frame, context)
        case .continuation:
            guard message != nil else { return fail(.protocolError, "A continuation frame with no message to continue.", context) }
            collect(frame, context)
        case .binary:
            fail(.unacceptableData, "Binary messages are not supported: send JSON text.", context)
        case .ping:
            guard !sentClose else { return }
            var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            pong.rsv1 = false
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            receivedClose = true
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode()
            if sentClose {
                context.close(promise: nil)
            } else {
                // Answer with the same code, then close (RFC 6455 5.5.1).
                sendClose(code ?? .normalClosure, reason: nil, context) { context.close(promise: nil) }
            }
        default:
            fail(.protocolError, "Unknown opcode.", context)
        }
    }

    private func collect(_ frame: WebSocketFrame, _ context: ChannelHandlerContext) {
        var data = frame.unmaskedData
        if message == nil {
            message = data
        } else {
            message!.writeBuffer(&data)
        }
        guard message!.readableBytes <= maxMessageBytes else {
            message = nil
            return fail(.messageTooLarge, "Message too big: at most \(maxMessageBytes) bytes.", context)
        }
        guard frame.fin, var complete = message else { return }
        message = nil
        let bytes = complete.readBytes(length: complete.readableBytes) ?? []
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return fail(.dataInconsistentWithMessage, "Messages must be valid UTF-8.", context)
        }
        var line = context.channel.allocator.buffer(capacity: bytes.count + 1)
        line.writeBytes(bytes)
        line.writeInteger(UInt8(ascii: "\n"))
        context.fireChannelRead(wrapInboundOut(line))
        context.fireChannelReadComplete()
    }

    /// A broken frame or message: close with `code` and a reason, and read nothing more.
    private func fail(_ code: WebSocketErrorCode, _ reason: String, _ context: ChannelHandlerContext) {
        receivedClose = true
        sendClose(code, reason: reason, context) { context.close(promise: nil) }
    }

    private func checkAlive(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, closing == nil, !sentClose else { return }
        let now = NIODeadline.now()
        if let sent = pingSent {
            if now - sent >= pingTimeout {
                // Let the chat handler say goodbye and tell the rooms why.
                let request = CloseRequest(reason: "Ping timeout", notify: true, code: .timeout)
                context.pipeline.syncOperations.fireUserInboundEventTriggered(request)
            }
        } else if now - lastHeard >= pingInterval {
            pingSent = now
            let ping = WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(string: "chatd"))
            context.writeAndFlush(wrapOutboundOut(ping), promise: nil)
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        if var partial = partialLine {
            partial.writeBuffer(&buffer)
            buffer = partial
            partialLine = nil
        }
        var frames: [ByteBuffer] = []
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            frames.append(buffer.readSlice(length: length)!)
            buffer.moveReaderIndex(forwardBy: 1)
        }
        if buffer.readableBytes > 0 { partialLine = buffer }
        guard !sentClose, !frames.isEmpty else {
            promise?.succeed()
            return
        }
        for (index, payload) in frames.enumerated() {
            let frame = WebSocketFrame(fin: true, opcode: .text, data: payload)
            context.write(wrapOutboundOut(frame), promise: index == frames.count - 1 ? promise : nil)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let closing = event as? ClosingConnection {
            self.closing = closing
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    /// Closing after a goodbye: send the close frame with the reason's code first. Without a
    /// stated reason (a slow consumer, a reset) the connection is just closed.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard let closing, !sentClose, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        sendClose(Self.code(for: closing.kind), reason: closing.reason, context) {
            context.close(mode: mode, promise: promise)
        }
    }

    private func sendClose(
        _ code: WebSocketErrorCode, reason: String?, _ context: ChannelHandlerContext, then: @escaping () -> Void
    ) {
        guard !sentClose else { return then() }
        sentClose = true
        var payload = context.channel.allocator.buffer(capacity: 125)
        payload.write(webSocketErrorCode: code)
        if let reason {
            // A control frame's payload is at most 125 bytes: 2 for the code, the rest for the
            // reason, cut on a character boundary.
            var text = Substring(reason)
            while text.utf8.count > 123 { text = text.dropLast() }
            payload.writeString(String(text))
        }
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in then() }
    }

    static func code(for kind: ClosingConnection.Kind) -> WebSocketErrorCode {
        switch kind {
        case .quit: .normalClosure
        case .goingAway: .goingAway
        case .policy: .policyViolation
        case .tryAgainLater: WebSocketErrorCode(codeNumber: 1013)
        }
    }
}

@available(*, unavailable)
extension WebSocketChatAdapter: Sendable {}
