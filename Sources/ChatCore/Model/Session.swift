/// One connection's protocol state: which wire format it speaks, whether it has a nickname yet,
/// and what each line it sends means. Pure: the server's connection handler feeds it lines and
/// carries out the `Action` it returns.
///
/// ```
///            first line is a JSON object ──► JSON mode (for the rest of the connection)
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
        /// Claim `nick` and enter the default room.
        case register(nick: String, re: RequestID?)
        /// Carry out a command against the directory.
        case perform(Command, re: RequestID?)
        /// The client leaves.
        case quit(reason: String)
        /// The first line is an HTTP request: a browser or HTTP client on the chat port.
        case httpRequest
    }

    /// HTTP methods recognised in a first line such as `GET / HTTP/1.1`.
    static let httpMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]

    static func isHTTPRequestLine(_ line: [UInt8]) -> Bool {
        let parts = line.split(separator: UInt8(ascii: " "))
        guard parts.count == 3, httpMethods.contains(String(decoding: parts[0], as: UTF8.self)) else { return false }
        return parts[2].starts(with: Array("HTTP/".utf8))
    }

    public private(set) var phase = Phase.unregistered
    public private(set) var format = WireFormat.text
    /// True once the client sent its first line (the format is decided by then).
    public private(set) var hasSpoken = false
    /// The longest line allowed, in bytes (`limits.maxLineBytes`; replaced on reload). The
    /// session keeps only this of the limits: it lives as long as its connection.
    public var maxLineBytes: Int

    /// `jsonOnly` starts the session in JSON mode with no format detection (WebSocket clients).
    public init(limits: Limits, jsonOnly: Bool = false) {
        self.maxLineBytes = limits.maxLineBytes
        if jsonOnly {
            format = .json
            hasSpoken = true
        }
    }

    /// The server granted the nickname.
    /// The program on the other end, as its `hello` named it (`chat 0.1.0`), if it did.
    public private(set) var clientName: String?

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
            if line.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "{") { format = .json }
            if format == .text, line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return .none }
            hasSpoken = true
        }
        switch format {
        case .json: return receiveJSON(line)
        case .text: return receiveText(Sanitizer.clean(line))
        }
    }

    /// The reply to a line longer than `maxLineBytes` (its text was discarded).
    public func overlongLine() -> Action {
        .reply(.error(code: "line_too_long", message: "Line too long: at most \(maxLineBytes) bytes. It was not sent."), re: nil)
    }

    private func receiveText(_ text: String) -> Action {
        if phase == .unregistered && !text.hasPrefix("/") {
            return .register(nick: text, re: nil)
        }
        switch Command.parse(line: text) {
        case nil: return .none
        case .failure(let error): return .reply(.error(code: error.code, message: error.description), re: nil)
        case .success(let command): return decide(command, re: nil)
        }
    }

    private mutating func receiveJSON(_ line: [UInt8]) -> Action {
        switch JSONRequest.parse(line) {
        case .failure(let error):
            return .reply(.error(code: error.code, message: error.description), re: nil)
        case .success(let request):
            switch request.kind {
            case .hello(let nick, let client):
                if phase != .registered, let client { clientName = client }
                if phase == .registered {
                    return .reply(.error(code: "already_registered", message: "You already said hello."), re: request.correlation)
                }
                guard let nick else { return .reply(.nickRequired, re: request.correlation) }
                return .register(nick: nick, re: request.correlation)
            case .command(let command):
                return decide(command, re: request.correlation)
            }
        }
    }

    /// Commands that need no shared state are answered here; the rest need a nickname first.
    private func decide(_ command: Command, re: RequestID?) -> Action {
        switch command {
        case .help(let topic): return .reply(.help(Self.help(topic)), re: re)
        case .ping(let token): return .reply(.pong(token: token), re: re)
        case .quit(let reason): return .quit(reason: reason.map { "Quit: \($0)" } ?? "Quit")
        case .nick(let nick) where phase == .unregistered: return .register(nick: nick, re: re)
        case .say(let text, _), .action(let text, _):
            if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { return .none }
        default: break
        }
        guard phase == .registered else {
            return .reply(.error(code: "not_registered", message: "Choose a nickname first."), re: re)
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
        for info in Command.table {
            let usage = "/\(info.name) \(info.arguments)".trimmingSuffixSpaces()
            lines.append("  " + usage.padded(to: 28) + info.summary)
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
