import ChatCore
import Glibc
import Logging
import NIOCore

/// Asks a connection to say goodbye and close (server shutdown, a kick), delivered as a user
/// event on the connection's own loop.
struct CloseRequest: Sendable {
    var reason: String
    /// Tell the rooms the client was in (false on shutdown: everyone is leaving).
    var notify: Bool
    var code: ByeCode
}

/// Why a connection is being closed, told down the pipeline (an outbound user event) before the
/// goodbye and the close, so a transport with close codes (WebSocket) can give the right one.
struct ClosingConnection: Sendable {
    enum Kind: Sendable {
        /// The client asked to leave.
        case quit
        /// The server is shutting down, or the client stopped answering pings.
        case goingAway
        /// A rule was broken: flood, overlong lines, no nick in time, kicked, banned.
        case policy
        /// Refused at connect for now (server full, too many connections, draining).
        case tryAgainLater
    }

    var reason: String
    var kind: Kind

    init(reason: String, code: ByeCode) {
        self.reason = reason
        switch code {
        case .quit: kind = .quit
        case .shutdown, .timeout: kind = .goingAway
        case .kicked, .banned, .policy: kind = .policy
        case .refused: kind = .tryAgainLater
        }
    }
}

/// How a chat connection reaches chatd: a TCP line connection (text or JSON, sniffed from the
/// first line), or a WebSocket whose messages are JSON lines.
enum ChatTransport: Sendable {
    case tcp
    case webSocket
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
    /// The registered nick, as shown.
    private var nick: String?
    /// The server's logger, shared: what identifies this connection in a log line (session,
    /// peer, nick) is added when a line is logged, not kept per connection (see `log`).
    private let logger: Logger
    /// Why the connection is ending, once it is: the reason the rooms are told.
    private var closeReason: String?
    private var notifyOnClose = true
    /// Whether the connection counts against the connection limits (released when it closes).
    private var admitted = false
    /// Closes the connection if no nickname is chosen in time.
    private var nickTimer: Scheduled<Void>?
    /// The text greeting waits briefly for the client to speak first: a browser's HTTP request
    /// then gets a clean HTTP response, and a JSON client a JSON hello with no text before it.
    private var greetTimer: Scheduled<Void>?
    private var greeted = false
    static let greetingDelay = TimeAmount.milliseconds(150)
    /// Flood control: a line spends a token; lines beyond the bucket wait in `held`.
    private var bucket: TokenBucket
    private var held: [[UInt8]] = []
    /// When the client was last told its lines are being held (monotonic ns): once a paste,
    /// however many reads it arrives in, and at most every 10 s.
    private var toldOfHoldingAt: Int64?
    private var releaseTimer: Scheduled<Void>?
    private var overlongLines = 0
    /// Refused at connect or not a text protocol: counted and logged (throttled) already, so its
    /// close is logged at debug only (a connection flood must not flood the log).
    private var refused = false
    private let transport: ChatTransport
    private var started = false
    /// Set when this handler takes over a parked connection, until it starts.
    private var resumed: ParkedConnection?
    /// The channel is closing because the connection is being parked, not ending.
    private var parking = false

    /// A new connection. `descriptor` is its socket when chatd accepted it itself (TCP): such a
    /// connection can be parked.
    init(hub: Hub, shard: Shard, channel: any Channel, descriptor: Int32? = nil, logger: Logger, transport: ChatTransport = .tcp) {
        self.hub = hub
        self.shard = shard
        self.transport = transport
        (settings, settingsGeneration) = hub.settings
        self.member = LocalMember(
            id: hub.makeSessionID(), channel: channel, descriptor: descriptor, sendQueueLimit: settings.limits.sendQueueBytes)
        self.framer = LineFramer(maxLineBytes: settings.limits.maxLineBytes)
        self.session = Session(limits: settings.limits, jsonOnly: transport == .webSocket)
        self.bucket = TokenBucket(rate: settings.limits.floodRate, burst: Double(settings.limits.floodBurst), now: Hub.monotonicNow)
        address = channel.remoteAddress.map(ChatService.describe) ?? "unknown"
        self.logger = logger
    }

    /// A parked connection coming back: the same member (session, rooms, format), with the
    /// state it was parked with.
    init(resuming member: LocalMember, _ parked: ParkedConnection, hub: Hub, shard: Shard, channel: any Channel, logger: Logger) {
        self.hub = hub
        self.shard = shard
        self.transport = .tcp
        (settings, settingsGeneration) = hub.settings
        self.member = member
        member.sendQueueLimit = settings.limits.sendQueueBytes
        self.framer = LineFramer.resumed(maxLineBytes: settings.limits.maxLineBytes)
        self.session = Session.resumed(format: member.format, maxLineBytes: settings.limits.maxLineBytes)
        self.bucket = TokenBucket(rate: settings.limits.floodRate, burst: Double(settings.limits.floodBurst), now: Hub.monotonicNow)
        self.address = parked.peer
        self.nick = parked.nick
        self.admitted = parked.admitted
        self.overlongLines = parked.overlongLines
        self.greeted = true
        self.resumed = parked
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
        if let parked = resumed {
            resumed = nil
            member.channel = context.channel
            log(.debug, "resumed from the parking lot")
            shard.flush(member)  // what arrived while it was coming back
            if let request = parked.pendingClose {
                notifyOnClose = request.notify
                sayGoodbyeAndClose(request.reason, request.code, context)
            }
            return
        }
        shard.attach(member)
        if transport == .webSocket {
            // JSON from the start: the hello goes out at once, with nothing to wait for.
            member.format = .json
            greeted = true
        }
        let ip = context.channel.remoteAddress?.ipBytes
        member.address = ip
        if transport == .tcp {
            // A WebSocket was admitted as a web connection (`WebAdmissionHandler`), which
            // counts it until it closes.
            if let refusal = hub.admit(address: ip) {
                refuse(refusal.reason, saying: refusal.message, context)
                return
            }
            admitted = ip != nil
        }
        shard.counters.accepted += 1
        log(.debug, "connection accepted", ["transport": "\(transport)"])
        if transport == .webSocket {
            send(hub.event(settings.greeting))
        } else {
            greetTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.greetingDelay) {
                self.greetInText()
            }
        }
        let seconds = settings.limits.nickTimeoutSeconds
        nickTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) {
            guard self.nick == nil else { return }
            self.sayGoodbyeAndClose("No nickname chosen within \(seconds) \(seconds == 1 ? "second" : "seconds")", .policy, context)
        }
    }

    private func cancelGreeting() {
        greetTimer?.cancel()
        greetTimer = nil
    }

    /// Sends the text greeting and nick prompt, once.
    private func greetInText() {
        guard !greeted, closeReason == nil else { return }
        greeted = true
        cancelGreeting()
        send(hub.event(settings.greeting))
        send(hub.event(.nickRequired))
    }

    /// Refuses this connection: counts and logs it (throttled), says why (`goodbye`, when given,
    /// is sent as it is instead of the usual line or `bye` event), closes.
    private func refuse(_ reason: Refusal, saying message: String, goodbye: ByteBuffer? = nil, _ context: ChannelHandlerContext) {
        shard.countRefusal(reason, hub: hub, logger: logger, peer: address, session: member.id)
        closeReason = "Refused: \(reason.rawValue)"
        refused = true
        let code: ByeCode = reason.isTemporary ? .refused : .banned
        context.triggerUserOutboundEvent(ClosingConnection(reason: message, code: code), promise: nil)
        let last =
            goodbye
            ?? (member.format == .json ? encode(hub.event(.bye(reason: message, code: code))) : ByteBuffer(string: "*** \(message)\r\n"))
        shard.post(.goodbye(member.id, last))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        shard.counters.bytesIn += buffer.readableBytes
        member.lastActive = Hub.monotonicNow
        guard closeReason == nil else { return }  // saying goodbye: input is ignored
        if hub.generation != settingsGeneration { applyReloadedSettings(context) }
        var outputs: [LineFramer.Output] = []
        buffer.withUnsafeReadableBytes { bytes in framer.feed(bytes) { outputs.append($0) } }
        for output in outputs {
            guard closeReason == nil else { break }
            switch output {
            case .line(let line):
                admit(line, context)
            case .overlong:
                overlongLines += 1
                if overlongLines >= settings.limits.maxOverlongLines {
                    log(.info, "disconnected for overlong lines", ["count": "\(overlongLines)"])
                    sayGoodbyeAndClose("Excess line length", .policy, context)
                } else {
                    handle(session.overlongLine(), format: session.format, context)
                }
            case .reply(let bytes):
                shard.counters.bytesOut += bytes.count
                context.write(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
            case .notText(let kind):
                // A TLS client or binary data on a text port: nothing useful can be said. Close.
                shard.countRefusal(.notText, hub: hub, logger: logger, peer: address, session: member.id, kind: kind.rawValue)
                closeReason = "Not a text protocol (\(kind.rawValue))"
                refused = true
                context.close(promise: nil)
            }
        }
        if !held.isEmpty, closeReason == nil, member.format == .text,
            toldOfHoldingAt.map({ Hub.monotonicNow - $0 > 10_000_000_000 }) ?? true
        {
            // A paste: said once, after this read's lines are counted. (Programs in JSON mode
            // pace themselves by the answers to their requests.)
            toldOfHoldingAt = Hub.monotonicNow
            let rate = settings.limits.floodRate
            let pace = rate == rate.rounded() ? String(Int(rate)) : String(rate)
            send(hub.event(.notice(text: "Slowing down: \(held.count) lines queued, sent at \(pace) a second.")))
        }
    }

    /// Flood control: a line within the bucket is handled now; beyond it, lines wait (fairly,
    /// at the configured rate) up to `floodQueueLines`, and past that the client is cut off.
    private func admit(_ line: [UInt8], _ context: ChannelHandlerContext) {
        if held.isEmpty && bucket.take(now: Hub.monotonicNow) {
            handle(session.receive(line: line), format: session.format, context)
            return
        }
        guard held.count < settings.limits.floodQueueLines else {
            log(.info, "disconnected for flooding", ["held": "\(held.count)"])
            held.removeAll()
            sayGoodbyeAndClose("Excess flood", .policy, context)
            return
        }
        held.append(line)
        scheduleRelease(context)
    }

    private func scheduleRelease(_ context: ChannelHandlerContext) {
        guard releaseTimer == nil, !held.isEmpty else { return }
        let wait = bucket.wait(now: Hub.monotonicNow)
        releaseTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(wait)) {
            self.releaseTimer = nil
            self.releaseHeld(context)
        }
    }

    /// Handles the held lines the bucket now allows, in order.
    private func releaseHeld(_ context: ChannelHandlerContext) {
        while closeReason == nil, !held.isEmpty, bucket.take(now: Hub.monotonicNow) {
            let line = held.removeFirst()
            handle(session.receive(line: line), format: session.format, context)
        }
        context.flush()
        scheduleRelease(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if parking {
            // The socket lives on in the parking lot; so does the member.
            context.fireChannelInactive()
            return
        }
        session.closed()
        nickTimer?.cancel()
        releaseTimer?.cancel()
        cancelGreeting()
        held.removeAll()
        let reason = closeReason ?? "Connection closed"
        Self.ended(member, admitted, registered: nick != nil, reason: reason, notify: notifyOnClose, hub: hub, shard: shard)
        admitted = false
        log(refused ? .debug : .info, "disconnected", ["reason": "\(reason)"])
        context.fireChannelInactive()
    }

    /// A connection has ended: its loop forgets it, its address stops counting against the
    /// limits, and the directory lets its rooms know (unless `notify` is false).
    static func ended(
        _ member: LocalMember, _ admitted: Bool, registered: Bool = true, reason: String, notify: Bool, hub: Hub, shard: Shard
    ) {
        shard.detach(member.id)
        if admitted, let address = member.address { hub.release(address: address) }
        if registered {
            let id = member.id
            hub.perform { directory, now in directory.disconnect(id, reason: reason, notify: notify, at: now) }
        }
    }

    // MARK: Parking

    /// Parks the connection if it is idle: registered, over TCP, nothing half-read, held or
    /// waiting to be sent, its flood bucket full. The socket is duplicated into the parking lot
    /// and the channel closed; the member stays in its rooms. True if it was parked.
    func parkIfIdle(_ parking: Parking) -> Bool {
        guard transport == .tcp, started, let context = member.context, let descriptor = member.descriptor, let nick,
            closeReason == nil, held.isEmpty, releaseTimer == nil, greetTimer == nil, framer.isBetweenLines,
            !member.hasOutput, member.replyBytes == 0, bucket.isFull(now: Hub.monotonicNow), context.channel.isWritable
        else { return false }
        let options = context.channel.syncOptions
        guard (try? options?.getOption(.bufferedWritableBytes)) == 0, (try? options?.getOption(.autoRead)) == true else { return false }
        let spare = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard spare >= 0 else { return false }  // out of descriptors: it stays on the loop
        guard parking.watch(spare, shard: shard.index, id: member.id) else {
            close(spare)
            return false
        }
        self.parking = true
        member.parked = ParkedConnection(nick: nick, peer: address, admitted: admitted, overlongLines: overlongLines)
        member.descriptor = spare
        member.context = nil
        member.channel = nil
        log(.debug, "parked")
        context.close(promise: nil)
        return true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            // The backlog drained: read the client's requests again.
            context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
        } else {
            // Over the mark: hold the client's further requests until it has read its backlog
            // (backpressure). Whether it is a slow consumer is decided by the flush that made it
            // unwritable, once the socket has taken what it could (`LocalMember.flush`): NIO says
            // "unwritable" as a big write is queued, before it is offered to the socket.
            context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    /// The client is not reading room traffic: cut it off rather than buffer without bound. The
    /// goodbye is not sent, since it would only join the unread backlog.
    private func cutOffSlowConsumer(_ context: ChannelHandlerContext) {
        guard closeReason == nil else { return }
        closeReason = "Send queue exceeded"
        log(.notice, "slow consumer disconnected", ["sendQueueBytes": "\(settings.limits.sendQueueBytes)"])
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil {
            closeReason = (error as? IOError)?.errnoCode == ECONNRESET ? "Connection reset by peer" : "Connection error"
        }
        log(.debug, "connection error", ["error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let request = event as? CloseRequest {
            notifyOnClose = request.notify
            sayGoodbyeAndClose(request.reason, request.code, context)
        } else if event is SlowConsumer {
            cutOffSlowConsumer(context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Carrying out the session's decisions

    private func handle(_ action: Session.Action, format: WireFormat, _ context: ChannelHandlerContext) {
        if !greeted && action != .httpRequest {
            if format == .json {
                greeted = true  // greeted in JSON just below
                cancelGreeting()
            } else {
                greetInText()
            }
        }
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
            let kind = session.clientName ?? (transport == .webSocket ? "websocket" : format == .json ? "json" : "line")
            switch hub.register(member.id, nick: rawNick, shard: shard.index, address: address, kind: kind, re: re) {
            case .success(let granted):
                session.registered()
                nickTimer?.cancel()
                nickTimer = nil  // a timer kept is a promise and a task kept, per connection
                nick = granted.display
                log(.info, "registered")
            case .failure(let refusal):
                send(hub.event(.error(code: refusal.code, message: refusal.description), re: re))
                send(hub.event(.nickRequired))
            }
        case .perform(let command, let re):
            perform(command, re: re)
        case .quit(let reason):
            sayGoodbyeAndClose(reason, .quit, context)
        case .httpRequest:
            cancelGreeting()
            refuse(
                .http, saying: Refusal.http.message(settings.limits), goodbye: ByteBuffer(string: Self.httpResponse(webPort: hub.webPort)),
                context)
        }
    }

    private func perform(_ command: Command, re: RequestID?) {
        let id = member.id
        switch command {
        case .say(let text, let room), .action(let text, let room):
            var isAction = false
            if case .action = command { isAction = true }
            let deliveries = hub.perform(for: id) { $0.say(id, text: text, room: room, action: isAction, at: $1, re: re) }
            if settings.logMessages, case .event(let event, .room)? = deliveries.first {
                log(.info, "message", ["event": "\(event.kind)"])
            }
        case .privateMessage(let to, let text):
            let deliveries = hub.perform(for: id) { $0.privateMessage(id, to: to, text: text, at: $1, re: re) }
            if settings.logMessages, case .event(let event, .session)? = deliveries.first {
                log(.info, "private message", ["event": "\(event.kind)"])
            }
        case .nick(let newNick):
            let deliveries = hub.perform(for: id) { $0.changeNick(id, to: newNick, at: $1, re: re) }
            for case .event(let event, _) in deliveries {
                if case .nickChange(let old, let new) = event.kind {
                    log(.info, "nick changed", ["old": "\(old)", "new": "\(new)"])
                    nick = new
                }
            }
        case .join(let room):
            hub.perform(for: id) { $0.join(id, room: room, at: $1, re: re) }
        case .part(let room, let reason):
            hub.perform(for: id) { $0.part(id, room: room, reason: reason, at: $1, re: re) }
        case .rooms:
            hub.perform(for: id) { $0.listRooms(id, at: $1, re: re) }
        case .who(let room):
            hub.perform(for: id) { $0.who(id, room: room, at: $1, re: re) }
        case .help, .ping, .quit:
            break  // answered by the session itself
        }
    }

    /// Logs with this connection's session id, peer and nick (when it has one) added.
    private func log(_ level: Logger.Level, _ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata = [:]) {
        guard logger.logLevel <= level else { return }
        var all = metadata()
        all["session"] = "\(member.id)"
        all["peer"] = "\(address)"
        if let nick { all["nick"] = "\(nick)" }
        logger.log(level: level, message, metadata: all)
    }

    /// What a browser (or any HTTP client) pointed at the chat port gets: where to go instead.
    static func httpResponse(webPort: Int?) -> String {
        var body = "This is a chatd chat port: it speaks a line protocol, not HTTP.\r\n"
        body += "Connect with the chat client, telnet or nc (telnet HOST PORT).\r\n"
        if let webPort { body += "For the web client, open port \(webPort) in your browser: http://HOST:\(webPort)/\r\n" }
        return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
    }

    /// A reload changed the settings: take the ones that apply to a live connection.
    private func applyReloadedSettings(_ context: ChannelHandlerContext) {
        (settings, settingsGeneration) = hub.settings
        framer.maxLineBytes = settings.limits.maxLineBytes
        session.maxLineBytes = settings.limits.maxLineBytes
        bucket.rate = settings.limits.floodRate
        bucket.burst = Double(settings.limits.floodBurst)
        let queue = settings.limits.sendQueueBytes
        member.sendQueueLimit = queue
        context.channel.setOption(.writeBufferWaterMark, value: .init(low: queue / 2, high: queue)).whenFailure { _ in }
    }

    /// Sends the goodbye after everything already queued for this client, then closes once it
    /// is flushed, so the reason arrives.
    private func sayGoodbyeAndClose(_ reason: String, _ code: ByeCode, _ context: ChannelHandlerContext) {
        guard closeReason == nil else { return }
        closeReason = reason
        context.triggerUserOutboundEvent(ClosingConnection(reason: reason, code: code), promise: nil)
        shard.post(.goodbye(member.id, encode(hub.event(.bye(reason: reason, code: code)))))
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

/// What every connection handler needs from the config; reload replaces it. Shared, not copied:
/// a connection holds a reference to the one in force.
final class ConnectionSettings: Sendable {
    let greeting: Event.Kind
    let logMessages: Bool
    let limits: Limits
    let web: Config.Web

    init(_ config: Config) {
        greeting = .hello(
            server: config.server.name, version: ChatServerInfo.version, motd: config.server.motd, limits: ClientLimits(config.limits))
        logMessages = config.logging.logMessages
        limits = config.limits
        web = config.web
    }
}
