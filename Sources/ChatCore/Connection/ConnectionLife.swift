/// The life of one chat connection, from accept to close, as a pure state machine: bytes,
/// timer ticks and requests from the server go in, with the time; the actions to carry out come
/// out, in order. The server's connection handler only carries them out (NIO I/O, the hub); the
/// decisions are all here, and unit-tested with a fake clock.
///
/// ```
///  start ─► greeting ─(first line: format)─► unregistered ─(nick granted)─► registered ─► closing
///    │        │ text: hello + nick prompt after 150 ms, or at the first text line      ▲
///    │        │ JSON: hello in JSON at the first line; HTTP: refused with a pointer     │
///    │        └ no nick within nickTimeoutSeconds ──────────────────────────────────────┤
///    └ refused at connect (admission) ──────────────────────────────────────────────────┤
///  every line: flood bucket ─► handled now, or held (paced) ─► over floodQueueLines ─────┤
///  overlong lines ─► an error each; maxOverlongLines of them ───────────────────────────┤
///  /quit, kick, ban, shutdown, a slow consumer, a socket error ─────────────────────────┘
/// ```
///
/// Time is monotonic nanoseconds, passed in. A deadline (the greeting, the nick timeout, the
/// release of held lines) is `nextDeadline`; the handler calls `tick` when it is due.
///
/// A parked connection keeps its life as it was (`mayPark` says when that is safe): resumed, it
/// carries on with the same format, registration, telnet state and counters.
public struct ConnectionLife: Sendable {
    public enum Transport: Equatable, Sendable {
        /// Lines over TCP: text, or JSON when the first line is a JSON object.
        case tcp
        /// JSON messages over a WebSocket (the web client).
        case webSocket
    }

    /// What the connection must do.
    public enum Action: Equatable, Sendable {
        /// Send the server's `hello` (the config's greeting), in the client's format.
        case greet
        /// Send this event to the client alone, after everything queued for it before.
        case send(Event.Kind, re: RequestID?)
        /// Write these bytes to the socket at once (telnet negotiation replies).
        case write([UInt8])
        /// From now on the client is sent `dialect` (its first line claimed it: JSON).
        case speak(DialectID)
        /// From now on the client's views carry `extensions`, and its own room messages come
        /// back to it or not (IRC's negotiated capabilities).
        case extend(UInt8, echoes: Bool)
        /// Claim the nick and enter the default room (signed in to `account`, when credentials were
        /// checked before); answer with `registered` or `nickRefused`.
        case register(nick: String, kind: ClientKind, re: RequestID?, account: String? = nil)
        /// Check credentials (IRC's SASL), off the loop; the answer comes back through
        /// `authenticated(_:now:_:)`.
        case authenticate(account: String, password: Password)
        /// Carry out a command against the directory (`Directory.perform`).
        case perform(Command, re: RequestID?)
        /// Say goodbye (`*** Closing connection: reason`, or a `bye` with `code`), then close.
        case close(reason: String, code: ByeCode)
        /// Turn the connection away: count and log it (throttled), tell it as the edge renders
        /// `refusal` (a line, a `bye`, an HTTP response, or nothing to a client that is not text),
        /// close. `detail` says more for the log (`tls`, `binary`).
        case refuse(Refusal, message: String, detail: String?)
        /// Close at once, saying nothing: the client is not reading what it is sent.
        case cutOff(reason: String)
    }

    /// What carrying out an action came to, where the machine needs to know.
    public enum Outcome: Equatable, Sendable {
        case done
        /// `register` succeeded.
        case registered
        /// `register` was refused: the nick is invalid, taken or banned.
        case nickRefused(NickError)
    }

    /// How the connection is ending, once it is.
    public struct Closing: Equatable, Sendable {
        /// What the client's rooms are told.
        public var reason: String
        /// Whether its rooms are told at all (not at shutdown: everyone is leaving).
        public var notify: Bool
        /// Refused, or not a text protocol: counted and logged already, so its close is logged
        /// quietly (a connection flood must not flood the log).
        public var quiet: Bool
        /// Why, as the metrics count it (`reason` is the sentence).
        public var cause: Cause

        public init(reason: String, notify: Bool = true, quiet: Bool = false, cause: Cause) {
            self.reason = reason
            self.notify = notify
            self.quiet = quiet
            self.cause = cause
        }
    }

    /// Why a connection ended, in a closed set (the metrics' `reason` label).
    public enum Cause: String, Equatable, Sendable, CaseIterable {
        /// The client said goodbye (`/quit`, QUIT).
        case quit
        /// The client closed the connection without a goodbye.
        case closed
        /// The socket failed (a reset, an error).
        case error
        /// It sent lines faster than the flood limit allows, past its queue.
        case flood
        /// It sent too many overlong lines.
        case lineTooLong = "line_too_long"
        /// It chose no nickname in time.
        case nickTimeout = "nick_timeout"
        /// It did not read what it was sent (its send queue overflowed).
        case sendQueue = "send_queue"
        /// It stopped answering pings.
        case pingTimeout = "ping_timeout"
        /// An operator disconnected it (`chatctl kick`).
        case kicked
        /// A ban caught it while connected.
        case banned
        /// Another rule the server enforces closed it.
        case policy
        /// The server shut down.
        case shutdown
        /// Refused at connect (counted among the refusals, by their reason, instead).
        case refused

        /// The cause of a close the server asked for with `code`.
        init(_ code: ByeCode) {
            switch code {
            case .quit: self = .quit
            case .kicked: self = .kicked
            case .banned: self = .banned
            case .shutdown: self = .shutdown
            case .timeout: self = .pingTimeout
            case .policy: self = .policy
            case .refused: self = .refused
            }
        }
    }

    /// The text greeting waits this long for the client to speak first: a browser's HTTP request
    /// then gets a clean HTTP response, and a JSON client a JSON hello with no text before it.
    public static let greetingDelay: Int64 = 150_000_000
    /// A paste held by the flood bucket is told of at most this often.
    static let holdNoticeInterval: Int64 = 10_000_000_000

    public let transport: Transport
    public private(set) var closing: Closing?
    private var framer: LineFramer
    private var session: Session
    /// The dialect the client is sent; follows the session's once it has spoken.
    public private(set) var speaking: DialectID
    private var greeted: Bool
    private var greetAt: Int64?
    private var nickDeadline: (at: Int64, seconds: Int)?
    /// Flood control: a line spends a token; lines beyond the bucket wait in `held`, released at
    /// `releaseAt`, up to `floodQueueLines`.
    private var bucket: TokenBucket
    private var held: [[UInt8]] = []
    private var releaseAt: Int64?
    private var floodQueueLines: Int
    /// When the client was last told its lines are held: once a paste, at most every 10 s.
    private var toldOfHoldingAt: Int64?
    public private(set) var overlongLines = 0
    private var maxOverlongLines: Int
    /// `limits.nickTimeoutSeconds` when the connection started.
    private let nickTimeoutSeconds: Int
    /// The view extensions last told (`extend`).
    private var extensions: UInt8 = 0

    /// A connection over `transport`. On the line listener (TCP, no `dialect`) it speaks text
    /// until its first line claims another dialect (JSON); a listener of one dialect passes it.
    public init(transport: Transport, dialect: DialectID? = nil, limits: Limits, now: Int64) {
        self.transport = transport
        framer = LineFramer(maxLineBytes: limits.maxLineBytes)
        speaking = dialect ?? (transport == .webSocket ? .json : .text)
        session = Session(limits: limits, dialect: speaking, sniffing: transport == .tcp && dialect == nil)
        greeted = false
        bucket = TokenBucket(rate: limits.floodRate, burst: Double(limits.floodBurst), now: now)
        floodQueueLines = limits.floodQueueLines
        maxOverlongLines = limits.maxOverlongLines
        nickTimeoutSeconds = limits.nickTimeoutSeconds
    }

    /// What a parked connection keeps of its life: everything else is at its resting value
    /// when it may park (`mayPark`: nothing held, half-read or due, its bucket full), so it is
    /// rebuilt on resuming, with the limits then in force. 24 bytes, where the whole life is a
    /// few hundred: 10,000 parked clients are the reason parking exists.
    /// (Only TCP connections park, and only registered ones, whose program's name has been
    /// used already.)
    public struct Parked: Sendable {
        // Largest first, so the struct packs into 24 bytes.
        let refusedOptions: [UInt64]
        let dialectState: DialectState
        let overlongLines: Int32
        let dialect: DialectID
    }

    /// What to keep while parked (call only when `mayPark` said yes).
    public func parked() -> Parked {
        Parked(
            refusedOptions: framer.refusedOptions, dialectState: session.dialectState, overlongLines: Int32(clamping: overlongLines),
            dialect: session.dialect)
    }

    /// A parked connection's life, resumed at `now` under `limits`: registered, speaking its
    /// dialect, past the first-line checks, with its telnet refusals and overlong-line count.
    public init(resuming parked: Parked, limits: Limits, now: Int64) {
        self.init(transport: .tcp, dialect: parked.dialect, limits: limits, now: now)
        framer = LineFramer.resumed(maxLineBytes: limits.maxLineBytes, refusedOptions: parked.refusedOptions)
        session = Session.resumed(dialect: parked.dialect, state: parked.dialectState, limits: limits)
        extensions = session.dialect.dialect.viewExtensions(parked.dialectState)
        greeted = true
        overlongLines = Int(parked.overlongLines)
    }

    /// Whether a nick has been granted.
    public var isRegistered: Bool { session.phase == .registered }

    /// The earliest moment `tick` has something to do, if any.
    public var nextDeadline: Int64? {
        guard closing == nil else { return nil }
        return [greetAt, nickDeadline?.at, releaseAt].compactMap { $0 }.min()
    }

    // MARK: Inputs

    /// The connection is up. `refusal` is the admission's verdict (with the line the client is
    /// told), if it is turned away.
    public mutating func start(now: Int64, refusal: (Refusal, message: String)? = nil, _ carryOut: (Action) -> Outcome) {
        if let (refusal, message) = refusal {
            refuse(refusal, message: message, detail: nil, carryOut)
            return
        }
        if session.hasSpoken {
            // The dialect is known from the start (a WebSocket speaks JSON): the hello goes out
            // at once, with nothing to wait for.
            greeted = true
            _ = carryOut(.speak(speaking))
            _ = carryOut(.greet)
        } else {
            greetAt = now + Self.greetingDelay
        }
        nickDeadline = (now + Int64(nickTimeoutSeconds) * 1_000_000_000, nickTimeoutSeconds)
    }

    /// Bytes from the client.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, now: Int64, _ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }  // saying goodbye: input is ignored
        var outputs: [LineFramer.Output] = []
        framer.feed(bytes) { outputs.append($0) }
        for output in outputs {
            guard closing == nil else { break }
            switch output {
            case .line(let line):
                admit(line, now: now, carryOut)
            case .overlong:
                overlongLines += 1
                if overlongLines >= maxOverlongLines {
                    close("Excess line length", .policy, cause: .lineTooLong, carryOut)
                } else {
                    handle(session.overlongLine(), carryOut)
                }
            case .reply(let bytes):
                _ = carryOut(.write(bytes))
            case .notText(let kind):
                // A TLS client or binary data on a text port: nothing useful can be said.
                refuse(.notText, message: "Not a text protocol (\(kind.rawValue))", detail: kind.rawValue, carryOut)
            }
        }
        if !held.isEmpty, closing == nil, speaking.dialect.isInteractive,
            toldOfHoldingAt.map({ now - $0 > Self.holdNoticeInterval }) ?? true
        {
            // A paste: said once, after this read's lines are counted. (Programs pace
            // themselves by the answers to their requests.)
            toldOfHoldingAt = now
            let rate = bucket.rate
            let pace = rate == rate.rounded() ? String(Int(rate)) : String(rate)
            _ = carryOut(.send(.notice(text: "Slowing down: \(held.count) lines queued, sent at \(pace) a second."), re: nil))
        }
    }

    /// Time has passed: whatever was due by `now` (see `nextDeadline`) happens.
    public mutating func tick(now: Int64, _ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }
        if let at = greetAt, at <= now { greetInText(carryOut) }
        if let deadline = nickDeadline, deadline.at <= now {
            nickDeadline = nil
            if !isRegistered {
                let seconds = deadline.seconds
                close(
                    "No nickname chosen within \(seconds) \(seconds == 1 ? "second" : "seconds")", .policy, cause: .nickTimeout, carryOut)
            }
        }
        if let at = releaseAt, at <= now {
            releaseAt = nil
            while closing == nil, !held.isEmpty, bucket.take(now: now) {
                receive(line: held.removeFirst(), carryOut)
            }
            scheduleRelease(now: now)
        }
    }

    /// The server asks the connection to say goodbye and close (a kick, a ban, shutdown).
    /// `notify` false keeps its rooms from being told (shutdown: everyone is leaving).
    public mutating func requestClose(reason: String, code: ByeCode, notify: Bool, _ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }
        close(reason, code, notify: notify, cause: Cause(code), carryOut)
    }

    /// The client's unsent output passed its send queue limit: it is cut off, with nothing said
    /// (a goodbye would only join the unread backlog).
    public mutating func sendQueueExceeded(_ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }
        let reason = "Send queue exceeded"
        closing = Closing(reason: reason, cause: .sendQueue)
        _ = carryOut(.cutOff(reason: reason))
    }

    /// The socket failed (the handler closes it).
    public mutating func failed(reason: String) {
        guard closing == nil else { return }
        closing = Closing(reason: reason, cause: .error)
    }

    /// The connection is gone. Returns how it ended.
    public mutating func ended() -> Closing {
        session.closed()
        held.removeAll()
        greetAt = nil
        nickDeadline = nil
        releaseAt = nil
        let closing = self.closing ?? Closing(reason: "Connection closed", cause: .closed)
        self.closing = closing
        return closing
    }

    /// A reload changed the limits: the ones that apply to a live connection take effect now.
    public mutating func reload(_ limits: Limits) {
        framer.maxLineBytes = limits.maxLineBytes
        session.maxLineBytes = limits.maxLineBytes
        bucket.rate = limits.floodRate
        bucket.burst = Double(limits.floodBurst)
        floodQueueLines = limits.floodQueueLines
        maxOverlongLines = limits.maxOverlongLines
    }

    /// Whether the connection may be parked now, as far as its life goes: registered, not
    /// closing, nothing half-read, held or due, its flood bucket full. (The handler adds what
    /// only it knows: nothing unsent, a socket of its own.)
    public mutating func mayPark(now: Int64) -> Bool {
        closing == nil && isRegistered && held.isEmpty && greetAt == nil && releaseAt == nil && framer.isBetweenLines
            && bucket.isFull(now: now)
    }

    // MARK: Decisions

    /// Flood control: a line within the bucket is handled now; beyond it, lines wait (fairly,
    /// at the configured rate) up to `floodQueueLines`, and past that the client is cut off.
    private mutating func admit(_ line: [UInt8], now: Int64, _ carryOut: (Action) -> Outcome) {
        if held.isEmpty && bucket.take(now: now) {
            receive(line: line, carryOut)
            return
        }
        guard held.count < floodQueueLines else {
            held.removeAll()
            close("Excess flood", .policy, cause: .flood, carryOut)
            return
        }
        held.append(line)
        scheduleRelease(now: now)
    }

    private mutating func scheduleRelease(now: Int64) {
        guard releaseAt == nil, !held.isEmpty else { return }
        releaseAt = now + bucket.wait(now: now)
    }

    /// Sends the text greeting and nick prompt, once.
    private mutating func greetInText(_ carryOut: (Action) -> Outcome) {
        greetAt = nil
        guard !greeted, closing == nil else { return }
        greeted = true
        _ = carryOut(.greet)
        _ = carryOut(.send(.nickRequired, re: nil))
    }

    /// One line, as the session makes it out; then whatever it changed in how the client is
    /// sent its lines.
    private mutating func receive(line: [UInt8], _ carryOut: (Action) -> Outcome) {
        handle(session.receive(line: line), carryOut)
        let dialect = session.dialect.dialect
        let now = dialect.viewExtensions(session.dialectState)
        if now != extensions {
            extensions = now
            _ = carryOut(.extend(now, echoes: dialect.echoesOwnMessages(session.dialectState)))
        }
    }

    /// Carries out what the session made of a line.
    private mutating func handle(_ decision: Session.Action, _ carryOut: (Action) -> Outcome) {
        let dialect = session.dialect
        if !greeted && decision != .httpRequest && decision != .proxyHeader {
            if dialect != speaking {
                greeted = true  // greeted in the dialect the first line chose, just below
                greetAt = nil
            } else {
                greetInText(carryOut)
            }
        }
        if speaking != dialect {
            // The first line switched the connection to another dialect (JSON): greet it in that.
            speaking = dialect
            _ = carryOut(.speak(dialect))
            _ = carryOut(.greet)
        }
        switch decision {
        case .none:
            break
        case .reply(let kind, let re):
            _ = carryOut(.send(kind, re: re))
        case .authenticate(let account, let password):
            _ = carryOut(.authenticate(account: account, password: password))
        case .register(let nick, let re, let account):
            let kind: ClientKind =
                session.clientName.map { .program($0) } ?? (transport == .webSocket ? .webSocket : dialect.dialect.clientKind)
            switch carryOut(.register(nick: nick, kind: kind, re: re, account: account)) {
            case .registered:
                session.registered()
                nickDeadline = nil
            case .nickRefused(let error):
                _ = carryOut(.send(.error(code: error.code, message: error.description), re: re))
                _ = carryOut(.send(.nickRequired, re: nil))
            case .done:
                break
            }
        case .perform(let command, let re):
            _ = carryOut(.perform(command, re: re))
        case .quit(let reason):
            close(reason, .quit, cause: .quit, carryOut)
        case .httpRequest:
            greetAt = nil
            refuse(.http, message: Refusal.http.rawValue, detail: nil, carryOut)
        case .proxyHeader:
            greetAt = nil
            refuse(.proxyHeader, message: "A PROXY header is accepted only from a trusted proxy (proxy.trusted).", detail: nil, carryOut)
        case .several(let decisions):
            for decision in decisions where closing == nil { handle(decision, carryOut) }
        }
    }

    /// The credentials of an `authenticate` action were checked (`account`, or nil: refused).
    public mutating func authenticated(_ account: String?, now: Int64, _ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }
        handle(session.authenticated(account), carryOut)
    }

    private mutating func close(
        _ reason: String, _ code: ByeCode, notify: Bool = true, cause: Cause, _ carryOut: (Action) -> Outcome
    ) {
        guard closing == nil else { return }
        closing = Closing(reason: reason, notify: notify, cause: cause)
        _ = carryOut(.close(reason: reason, code: code))
    }

    private mutating func refuse(_ refusal: Refusal, message: String, detail: String?, _ carryOut: (Action) -> Outcome) {
        guard closing == nil else { return }
        let reason = refusal == .notText ? message : "Refused: \(refusal.rawValue)"
        closing = Closing(reason: reason, quiet: true, cause: .refused)
        _ = carryOut(.refuse(refusal, message: message, detail: detail))
    }
}
