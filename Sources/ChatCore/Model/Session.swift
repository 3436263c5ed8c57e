/// One connection's protocol state: which dialect it speaks, whether it has a nickname yet, and
/// what each line it sends means (its dialect reads it; the session decides). Pure: the
/// connection's life feeds it lines and carries out the `Action` it returns.
///
/// ```
///            first line claimed by a dialect (a JSON object) ──► that dialect for the rest of the connection
///  unregistered ──(a nick is granted)──► registered ──(/quit, close)──► closed
/// ```
public struct Session: Sendable {
    public enum Phase: Equatable, Sendable {
        case unregistered
        case registered
        case closed
    }

    /// What the connection handler must do with a line.
    public enum Action: Equatable, Sendable {
        /// Nothing (a blank line).
        case none
        /// Answer this connection only; no shared state is involved.
        case reply(Event.Kind, re: RequestID?)
        /// Claim `nick` and enter the default room, signed in to `account` if credentials were
        /// checked before (IRC's SASL).
        case register(nick: String, re: RequestID?, account: String? = nil)
        /// Check these credentials (before registration); answer with `authenticated(_:)`.
        case authenticate(account: String, password: Password)
        /// Carry out a command against the directory.
        case perform(Command, re: RequestID?)
        /// The client leaves.
        case quit(reason: String)
        /// The first line is an HTTP request: a browser or HTTP client on the chat port.
        case httpRequest
        /// The first line is a PROXY protocol header, from a peer not trusted to send one.
        case proxyHeader
        /// Several of these, in order (one line asked for several things).
        case several([Action])
    }

    /// HTTP methods recognised in a first line such as `GET / HTTP/1.1`.
    static let httpMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]

    static func isHTTPRequestLine(_ line: [UInt8]) -> Bool {
        let parts = line.split(separator: UInt8(ascii: " "))
        guard parts.count == 3, httpMethods.contains(String(decoding: parts[0], as: UTF8.self)) else { return false }
        return parts[2].starts(with: Array("HTTP/".utf8))
    }

    public private(set) var phase = Phase.unregistered
    /// The dialect the client speaks: the listener's, or the one its first line claims.
    public private(set) var dialect: DialectID
    /// True once the client sent its first line (the dialect is decided by then).
    public private(set) var hasSpoken = false
    /// The longest line allowed, in bytes (`limits.maxLineBytes`; replaced on reload). The
    /// session keeps only this of the limits: it lives as long as its connection.
    public var maxLineBytes: Int
    /// The program on the other end, as its `hello` named it (`chat 0.1.0`), if it did.
    public private(set) var clientName: String?
    /// What the dialect keeps between lines (IRC's registration).
    public private(set) var dialectState: DialectState

    /// A session speaking `dialect`; with `sniffing`, the first line may choose another (a line
    /// connection's first JSON object) or be an HTTP request.
    public init(limits: Limits, dialect: DialectID = .text, sniffing: Bool = true) {
        self.maxLineBytes = limits.maxLineBytes
        self.dialect = dialect
        hasSpoken = !sniffing
        dialectState = dialect == .irc ? .irc(IRCState()) : .none
    }

    /// The session of a registered connection that already spoke `dialect`: the one a parked
    /// connection resumes with.
    public static func resumed(dialect: DialectID, state: DialectState? = nil, limits: Limits) -> Session {
        var session = Session(limits: limits, dialect: dialect, sniffing: false)
        session.phase = .registered
        if let state { session.dialectState = state }
        return session
    }

    /// The credentials of an `authenticate` were checked: `account` signed in to, or nil (wrong,
    /// unknown, refused). What the dialect answers, and the registration it held, if any.
    public mutating func authenticated(_ account: String?) -> Action {
        guard case .irc(var irc) = dialectState else { return .none }
        let reading = irc.authenticated(account)
        dialectState = .irc(irc)
        return decide(reading)
    }

    /// The server granted the nickname.
    public mutating func registered() { phase = .registered }

    public mutating func closed() { phase = .closed }

    /// Interprets one framed line (its terminator removed, not yet sanitized).
    public mutating func receive(line: [UInt8]) -> Action {
        guard phase != .closed else { return .none }
        if !hasSpoken {
            if Self.isHTTPRequestLine(line) {
                phase = .closed
                return .httpRequest
            }
            if line.starts(with: Array("PROXY TCP".utf8)) || line.starts(with: Array("PROXY UNKNOWN".utf8)) {
                phase = .closed
                return .proxyHeader
            }
            if let claimed = Dialects.claiming(firstLine: line) { dialect = claimed }
            if dialect == .text, line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return .none }
            hasSpoken = true
        }
        return decide(dialect.dialect.read(line, registered: phase == .registered, state: &dialectState))
    }

    /// What the session makes of what the dialect read.
    private mutating func decide(_ reading: Reading) -> Action {
        switch reading {
        case .nothing:
            return .none
        case .invalid(let error, let re):
            return .reply(.error(code: error.code, message: error.description), re: re)
        case .hello(let nick, let client, let re):
            if phase == .registered {
                return .reply(.error(code: .alreadyRegistered, message: "You already said hello."), re: re)
            }
            if let client { clientName = client }
            guard let nick else { return .reply(.nickRequired, re: re) }
            return .register(nick: nick, re: re, account: dialectState.authenticatedAccount)
        case .authenticate(let account, let password):
            return .authenticate(account: account, password: password)
        case .command(let command, let re):
            return decide(command, re: re)
        case .reply(let kind, let re):
            return .reply(kind, re: re)
        case .several(let readings):
            return .several(readings.map { decide($0) })
        }
    }

    /// The reply to a line longer than `maxLineBytes` (its text was discarded).
    public func overlongLine() -> Action {
        .reply(.error(code: .lineTooLong, message: "Line too long: at most \(maxLineBytes) bytes. It was not sent."), re: nil)
    }

    /// Commands that need no shared state are answered here; the rest need a nickname first.
    private func decide(_ command: Command, re: RequestID?) -> Action {
        switch command {
        case .help(let topic): return .reply(.help(Self.help(topic)), re: re)
        case .ping(let token): return .reply(.pong(token: token), re: re)
        case .quit(let reason): return .quit(reason: reason.map { "Quit: \($0)" } ?? "Quit")
        case .nick(let nick) where phase == .unregistered: return .register(nick: nick, re: re)
        case .say(let text, _), .action(let text, _), .notice(_, let text):
            if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { return .none }
        default: break
        }
        guard phase == .registered else {
            return .reply(.error(code: .notRegistered, message: "Choose a nickname first."), re: re)
        }
        return .perform(command, re: re)
    }

    /// The `/help` text: every command, or one command in detail.
    public static func help(_ topic: String?) -> [String] {
        if let topic {
            let name = topic.hasPrefix("/") ? String(topic.dropFirst()) : topic
            guard let info = Command.info(named: name) else {
                return ["No command /\(name). Type /help for the list."]
            }
            let aliases = info.aliases.isEmpty ? "" : " (also " + info.aliases.map { "/\($0)" }.joined(separator: ", ") + ")"
            return ["/\(info.name) \(info.arguments)".trimmingSuffixSpaces() + aliases, info.summary]
        }
        var lines = ["Commands:"]
        let usages = Command.table.map { "/\($0.name) \($0.arguments)".trimmingSuffixSpaces() }
        let width = (usages.map(\.count).max() ?? 0) + 2
        for (usage, info) in zip(usages, Command.table) {
            lines.append("  " + usage.padded(to: width) + info.summary)
        }
        lines.append("A line that does not start with / goes to your current room; //text sends a line starting with /.")
        return lines
    }
}

extension String {
    fileprivate func trimmingSuffixSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }

    fileprivate func padded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
