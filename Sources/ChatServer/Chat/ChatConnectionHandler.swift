import ChatCore
import Glibc
import Logging
import NIOCore

/// One chat connection, over TCP or a WebSocket. Its decisions are ChatCore's `ConnectionLife`:
/// this handler feeds it the bytes, the ticks of its one timer and the server's requests, and
/// carries out the actions it returns through the shard (what the client is sent) and the hub
/// (registration, commands). Lives and runs on the connection's event loop only.
final class ChatConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hub: Hub
    private let shard: Shard
    let member: LocalMember
    private var settings: ConnectionSettings
    private var settingsGeneration: Int
    /// The peer as logged.
    let address: String
    private var life: ConnectionLife
    /// The registered nick, as shown (for the log and the parking lot; the member keeps it).
    private(set) var nick: String? {
        get { member.nick }
        set { member.nick = newValue }
    }
    /// The server's logger, shared: what identifies this connection in a log line (session,
    /// peer, nick) is added when a line is logged, not kept per connection (see `log`).
    private let logger: Logger
    /// Whether the connection counts against the connection limits (released when it closes).
    private(set) var admitted = false
    /// The one timer, set for `life.nextDeadline`.
    private var timer: Scheduled<Void>?
    private var timerDeadline: Int64?
    private var started = false
    /// Set when this handler takes over a parked connection, until it starts.
    private var resumed: ParkedConnection?
    /// The channel is closing because the connection is being parked, not ending.
    private var isParking = false
    /// The life said to close at once. Done once its call returns: closing fires
    /// `channelInactive` at once, which must not find the life in the middle of a step.
    private var closeNow = false

    /// The client's address: the socket's peer, or the one a trusted proxy's PROXY header named.
    private let peer: SocketAddress?

    /// A new connection. `descriptor` is its socket when chatd accepted it itself (TCP): such a
    /// connection can be parked. `peer` is the client's address when a proxy named it.
    init(
        hub: Hub, shard: Shard, channel: any Channel, descriptor: Int32? = nil, logger: Logger,
        listener: ListenerKind = .chat, dialect: DialectID? = nil, peer: SocketAddress? = nil
    ) {
        self.hub = hub
        self.shard = shard
        (settings, settingsGeneration) = hub.settings
        self.member = LocalMember(
            id: hub.makeSessionID(), channel: channel, descriptor: descriptor, listener: listener,
            sendQueueLimit: settings.limits.sendQueueBytes)
        self.life = ConnectionLife(
            transport: listener.isWeb ? .webSocket : .tcp, dialect: dialect, limits: settings.limits, now: Hub.monotonicNow)
        member.dialect = life.speaking  // a refusal at connect is said in it
        member.echoes = life.speaking.dialect.echoesOwnMessages
        self.peer = peer ?? channel.remoteAddress
        address = self.peer.map(SocketAddress.describe) ?? "unknown"
        self.logger = logger
    }

    /// A parked connection coming back: the same member (session, rooms, format), and the life
    /// it was parked with.
    init(resuming member: LocalMember, _ parked: ParkedConnection, hub: Hub, shard: Shard, logger: Logger) {
        self.hub = hub
        self.shard = shard
        (settings, settingsGeneration) = hub.settings
        self.member = member
        self.life = ConnectionLife(resuming: parked.life, limits: settings.limits, now: Hub.monotonicNow)
        self.address = parked.peer
        self.admitted = parked.admitted
        self.resumed = parked
        self.peer = nil  // the member keeps the address it was admitted with
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    /// A WebSocket's handler is added after the upgrade, to a channel already active.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        member.context = context
        member.connection = self
        if let parked = resumed {
            resumed = nil
            member.channel = context.channel
            applyReloadedSettings(context)  // any reload while it was parked
            log(.debug, "resumed from the parking lot")
            shard.flush(member)  // what arrived while it was coming back
            if let request = parked.pendingClose { userInboundEventTriggered(context: context, event: request) }
            return
        }
        shard.attach(member)
        let ip = peer?.ipBytes
        member.address = ip
        // A WebSocket was admitted as a web connection (`WebAdmissionHandler`), which counts it
        // until it closes.
        let refusal = life.transport == .tcp ? hub.admit(address: ip) : nil
        admitted = life.transport == .tcp && refusal == nil && ip != nil
        if refusal == nil {
            shard.counters.accepted += 1
            log(.debug, "connection accepted", ["transport": "\(life.transport)"])
        }
        life.start(now: Hub.monotonicNow, refusal: refusal) { carryOut($0, context) }
        settle(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        shard.counters.bytesIn += buffer.readableBytes
        let now = Hub.monotonicNow
        member.lastActive = now
        member.pinged = false
        if hub.generation != settingsGeneration { applyReloadedSettings(context) }
        buffer.withUnsafeReadableBytes { bytes in life.receive(bytes, now: now) { carryOut($0, context) } }
        settle(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// After each step of the life: the one timer set for its next deadline, and a close it
    /// asked for carried out.
    private func settle(_ context: ChannelHandlerContext) {
        let next = life.nextDeadline
        if next != timerDeadline { reschedule(next, context) }
        if closeNow {
            closeNow = false
            context.close(promise: nil)
        }
    }

    private func reschedule(_ next: Int64?, _ context: ChannelHandlerContext) {
        guard next != timerDeadline else { return }
        timer?.cancel()
        timer = nil
        timerDeadline = next
        guard let next else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(UInt64(max(0, next)))) {
            self.timer = nil
            self.timerDeadline = nil
            self.life.tick(now: Hub.monotonicNow) { self.carryOut($0, context) }
            context.flush()
            self.settle(context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isParking {
            // The socket lives on in the parking lot; so does the member.
            context.fireChannelInactive()
            return
        }
        timer?.cancel()
        let closing = life.ended()
        shard.ended(member, admitted, registered: nick != nil, closing, hub: hub)
        admitted = false
        log(closing.quiet ? .debug : .info, "disconnected", ["reason": "\(closing.reason)"])
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Over the mark, the client's further requests wait until it has read its backlog
        // (backpressure). Whether it is a slow consumer is decided by the flush that made it
        // unwritable, once the socket has taken what it could (`LocalMember.flush`).
        context.channel.setOption(.autoRead, value: context.channel.isWritable).whenFailure { _ in }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        life.failed(reason: (error as? IOError)?.errnoCode == ECONNRESET ? "Connection reset by peer" : "Connection error")
        log(.debug, "connection error", ["error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let request = event as? CloseRequest {
            life.requestClose(reason: request.reason, code: request.code, notify: request.notify) { carryOut($0, context) }
            settle(context)
        } else if event is SlowConsumer {
            life.sendQueueExceeded { carryOut($0, context) }
            settle(context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Carrying out the life's decisions

    private func carryOut(_ action: ConnectionLife.Action, _ context: ChannelHandlerContext) -> ConnectionLife.Outcome {
        switch action {
        case .greet:
            send(hub.event(settings.greeting))
        case .send(let kind, let re):
            send(hub.event(kind, re: re))
        case .write(let bytes):
            shard.counters.bytesOut += bytes.count
            context.write(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
        case .speak(let dialect):
            member.dialect = dialect
            member.echoes = dialect.dialect.echoesOwnMessages
        case .extend(let extensions, let echoes):
            member.viewExtensions = extensions
            member.echoes = echoes
        case .authenticate(let account, let password):
            authenticate(account, password, context)
        case .register(let rawNick, let kind, let re, let account):
            switch hub.register(member.id, nick: rawNick, shard: shard.index, address: address, kind: kind, re: re, account: account) {
            case .success(let granted):
                nick = granted.display
                shard.counters.registrations += 1
                log(.info, "registered", ["kind": "\(kind)"])
                return .registered
            case .failure(let error):
                return .nickRefused(error)
            }
        case .perform(let command, let re):
            perform(command, re: re)
        case .close(let reason, let code):
            // The goodbye goes after everything already queued for the client; the channel
            // closes once it is flushed, so the reason arrives.
            context.triggerUserOutboundEvent(ClosingConnection(reason: reason, code: code), promise: nil)
            shard.post(.goodbye(member.id, encode(hub.event(.bye(reason: reason, code: code)))))
        case .refuse(let refusal, let message, let detail):
            shard.countRefusal(refusal, hub: hub, logger: logger, peer: address, session: member.id, kind: detail)
            context.triggerUserOutboundEvent(ClosingConnection(reason: message, code: refusal.byeCode), promise: nil)
            if let goodbye = refusal.goodbye(message, dialect: member.dialect, webPort: hub.webPort, event: { hub.event($0) }) {
                shard.post(.goodbye(member.id, goodbye))
            } else {
                closeNow = true  // nothing useful can be said
            }
        case .cutOff(let reason):
            log(.notice, "slow consumer disconnected", ["reason": "\(reason)", "sendQueueBytes": "\(settings.limits.sendQueueBytes)"])
            closeNow = true
        }
        return .done
    }

    /// Checks SASL credentials off the loop; the answer comes back to the connection's life on
    /// its loop (unless it closed meanwhile).
    private func authenticate(_ account: String, _ password: Password, _ context: ChannelHandlerContext) {
        let hub = self.hub
        let peer = address
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let name = await hub.verifyCredentials(account: account, password: password, address: peer)
            loop.execute {
                let (handler, context) = bound.value
                guard context.channel.isActive else { return }
                handler.life.authenticated(name, now: Hub.monotonicNow) { handler.carryOut($0, context) }
                handler.settle(context)
            }
        }
    }

    private func perform(_ command: Command, re: RequestID?) {
        let id = member.id
        let deliveries = hub.perform(for: id) { $0.perform(command, by: id, at: $1, re: re) }
        guard case .event(let event, let audience)? = deliveries.first else { return }
        switch (event.kind, audience) {
        case (.message, .room), (.action, .room):
            if settings.logMessages { log(.info, "message", ["event": "\(event.id)"]) }
        case (.privateMessage, .session):
            if settings.logMessages { log(.info, "private message", ["event": "\(event.id)"]) }
        case (.nickChange(let old, let new), _):
            log(.info, "nick changed", ["old": "\(old)", "new": "\(new)"])
            nick = new
        default:
            break
        }
    }

    /// Logs with this connection's session id, peer and nick (when it has one) added.
    func log(_ level: Logger.Level, _ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata = [:]) {
        guard logger.logLevel <= level else { return }
        var all = metadata()
        all["session"] = "\(member.id)"
        all["peer"] = "\(address)"
        if let nick { all["nick"] = "\(nick)" }
        logger.log(level: level, message, metadata: all)
    }

    /// A reload changed the settings: take the ones that apply to a live connection.
    private func applyReloadedSettings(_ context: ChannelHandlerContext) {
        (settings, settingsGeneration) = hub.settings
        life.reload(settings.limits)
        let queue = settings.limits.sendQueueBytes
        member.sendQueueLimit = queue
        context.channel.setOption(.writeBufferWaterMark, value: .init(low: queue / 2, high: queue)).whenFailure { _ in }
    }

    /// Replies go through the shard's mailbox like everything else for this client, so they
    /// arrive in the order of the requests, after what earlier requests produced.
    private func send(_ event: Event) {
        shard.post(.direct(member.id, encode(event)))
    }

    private func encode(_ event: Event) -> ByteBuffer {
        ByteBuffer(bytes: member.dialect.dialect.render(event, View(isAnswer: true, extensions: member.viewExtensions), to: member.nick))
    }
}

extension ChatConnectionHandler: ParkableConnection {
    /// Parks the connection if it is idle: its life says it may (registered, nothing half-read,
    /// held or due), it came over TCP, and nothing waits to be sent (`Parking.park`). True if it
    /// was parked; the channel then closes, and the member stays in its rooms.
    func parkIfIdle(_ parking: Parking) -> Bool {
        guard started, !isParking, let context = member.context, let nick, life.mayPark(now: Hub.monotonicNow) else { return false }
        let parked = ParkedConnection(life: life.parked(), nick: nick, peer: address, admitted: admitted)
        guard parking.park(member, parked, context.channel) else { return false }
        isParking = true
        timer?.cancel()
        log(.debug, "parked")
        context.close(promise: nil)
        return true
    }
}

@available(*, unavailable)
extension ChatConnectionHandler: Sendable {}
