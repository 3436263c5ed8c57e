import ChatCore
import Glibc
import Logging
import NIOCore

/// Asks a connection to say goodbye and close (server shutdown), delivered as a user event on
/// the connection's own loop.
struct CloseRequest: Sendable {
    var reason: String
    /// Tell the rooms the client was in (false on shutdown: everyone is leaving).
    var notify: Bool
}

/// One chat connection over TCP: frames lines (telnet-aware), lets the connection's `Session`
/// decide what each means, and carries that out through the hub. Owns the connection's state;
/// lives and runs on the connection's event loop only.
final class ChatConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hub: Hub
    private let shard: Shard
    private let member: LocalMember
    private var settings: ConnectionSettings
    private var settingsGeneration: Int
    private let address: String
    private var framer: LineFramer
    private var session: Session
    private var nick: Nickname?
    private var logger: Logger
    /// Why the connection is ending, once it is: the reason the rooms are told.
    private var closeReason: String?
    private var notifyOnClose = true

    init(hub: Hub, shard: Shard, channel: any Channel, logger: Logger) {
        self.hub = hub
        self.shard = shard
        (settings, settingsGeneration) = hub.settings
        self.member = LocalMember(id: hub.makeSessionID(), channel: channel)
        self.framer = LineFramer(maxLineBytes: settings.limits.maxLineBytes)
        self.session = Session(limits: settings.limits)
        address = channel.remoteAddress.map(ChatService.describe) ?? "unknown"
        var logger = logger
        logger[metadataKey: "session"] = "\(member.id)"
        logger[metadataKey: "peer"] = "\(address)"
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        shard.attach(member)
        if let refusal = hub.admission(address: context.channel.remoteAddress?.ipBytes) {
            shard.counters.refused[refusal.reason, default: 0] += 1
            logger.info("connection refused", metadata: ["reason": "\(refusal.reason)"])
            closeReason = refusal.message
            shard.post(.goodbye(member.id, ByteBuffer(string: "*** \(refusal.message)\r\n")))
            context.fireChannelActive()
            return
        }
        shard.counters.accepted += 1
        logger.debug("connection accepted")
        send(hub.event(settings.greeting))
        send(hub.event(.nickRequired))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        shard.counters.bytesIn += buffer.readableBytes
        guard closeReason == nil else { return }  // saying goodbye: input is ignored
        if hub.generation != settingsGeneration { applyReloadedSettings(context) }
        var outputs: [LineFramer.Output] = []
        buffer.withUnsafeReadableBytes { bytes in framer.feed(bytes) { outputs.append($0) } }
        for output in outputs {
            guard closeReason == nil else { break }
            switch output {
            case .line(let line): handle(session.receive(line: line), format: session.format, context)
            case .overlong: handle(session.overlongLine(), format: session.format, context)
            case .reply(let bytes):
                shard.counters.bytesOut += bytes.count
                context.write(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        shard.detach(member.id)
        session.closed()
        let reason = closeReason ?? "Connection closed"
        if nick != nil {
            let id = member.id
            let notify = notifyOnClose
            hub.perform { directory, now in directory.disconnect(id, reason: reason, notify: notify, at: now) }
        }
        logger.info("disconnected", metadata: ["reason": "\(reason)"])
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Past the send queue's high-water mark: the client is not reading. Cut it off rather
        // than buffer without bound; its goodbye is best effort since it is not reading.
        if !context.channel.isWritable && closeReason == nil {
            closeReason = "Send queue exceeded"
            logger.notice("slow consumer disconnected", metadata: ["sendQueueBytes": "\(settings.limits.sendQueueBytes)"])
            context.close(promise: nil)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil {
            closeReason = (error as? IOError)?.errnoCode == ECONNRESET ? "Connection reset by peer" : "Connection error"
        }
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let request = event as? CloseRequest {
            notifyOnClose = request.notify
            sayGoodbyeAndClose(request.reason, context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Carrying out the session's decisions

    private func handle(_ action: Session.Action, format: WireFormat, _ context: ChannelHandlerContext) {
        if member.format != format {
            // The first line switched the connection to JSON mode: greet it in JSON.
            member.format = format
            send(hub.event(settings.greeting))
        }
        switch action {
        case .none:
            break
        case .reply(let kind, let re):
            send(hub.event(kind, re: re))
        case .register(let rawNick, let re):
            let kind = format == .json ? "json" : "line"
            switch hub.register(member.id, nick: rawNick, shard: shard.index, address: address, kind: kind, re: re) {
            case .success(let granted):
                session.registered()
                nick = granted
                logger[metadataKey: "nick"] = "\(granted.display)"
                logger.info("registered")
            case .failure(let refusal):
                send(hub.event(.error(code: refusal.code, message: refusal.description), re: re))
                send(hub.event(.nickRequired))
            }
        case .perform(let command, let re):
            perform(command, re: re)
        case .quit(let reason):
            sayGoodbyeAndClose(reason, context)
        }
    }

    private func perform(_ command: Command, re: String?) {
        let id = member.id
        switch command {
        case .say(let text, let room), .action(let text, let room):
            var isAction = false
            if case .action = command { isAction = true }
            let deliveries = hub.perform { $0.say(id, text: text, room: room, action: isAction, at: $1, re: re) }
            if settings.logMessages, case .event(let event, .room)? = deliveries.first {
                logger.info("message", metadata: ["event": "\(event.kind)"])
            }
        case .privateMessage(let to, let text):
            let deliveries = hub.perform { $0.privateMessage(id, to: to, text: text, at: $1, re: re) }
            if settings.logMessages, case .event(let event, .session)? = deliveries.first {
                logger.info("private message", metadata: ["event": "\(event.kind)"])
            }
        case .nick(let newNick):
            let deliveries = hub.perform { $0.changeNick(id, to: newNick, at: $1, re: re) }
            for case .event(let event, _) in deliveries {
                if case .nickChange(let old, let new) = event.kind {
                    logger.info("nick changed", metadata: ["old": "\(old)", "new": "\(new)"])
                    logger[metadataKey: "nick"] = "\(new)"
                }
            }
        case .join(let room):
            hub.perform { $0.join(id, room: room, at: $1, re: re) }
        case .part(let room, let reason):
            hub.perform { $0.part(id, room: room, reason: reason, at: $1, re: re) }
        case .rooms:
            hub.perform { $0.listRooms(id, at: $1, re: re) }
        case .who(let room):
            hub.perform { $0.who(id, room: room, at: $1, re: re) }
        case .help, .ping, .quit:
            break  // answered by the session itself
        }
    }

    /// A reload changed the settings: take the ones that apply to a live connection.
    private func applyReloadedSettings(_ context: ChannelHandlerContext) {
        (settings, settingsGeneration) = hub.settings
        framer.maxLineBytes = settings.limits.maxLineBytes
        session.limits = settings.limits
        let queue = settings.limits.sendQueueBytes
        context.channel.setOption(.writeBufferWaterMark, value: .init(low: queue / 2, high: queue)).whenFailure { _ in }
    }

    /// Sends the goodbye after everything already queued for this client, then closes once it
    /// is flushed, so the reason arrives.
    private func sayGoodbyeAndClose(_ reason: String, _ context: ChannelHandlerContext) {
        guard closeReason == nil else { return }
        closeReason = reason
        shard.post(.goodbye(member.id, encode(hub.event(.bye(reason: reason)))))
    }

    /// Replies go through the shard's mailbox like everything else for this client, so they
    /// arrive in the order of the requests, after what earlier requests produced.
    private func send(_ event: Event) {
        shard.post(.direct(member.id, encode(event)))
    }

    private func encode(_ event: Event) -> ByteBuffer {
        switch member.format {
        case .text: ByteBuffer(string: TextFormat.render(event))
        case .json: ByteBuffer(bytes: JSONFormat.render(event))
        }
    }
}

@available(*, unavailable)
extension ChatConnectionHandler: Sendable {}

/// What every connection handler needs from the config; reload replaces it.
struct ConnectionSettings: Sendable {
    var greeting: Event.Kind
    var logMessages: Bool
    var limits: Limits

    init(_ config: Config) {
        greeting = .hello(server: config.server.name, version: ChatServerInfo.version, motd: config.server.motd)
        logMessages = config.logging.logMessages
        limits = config.limits
    }
}
