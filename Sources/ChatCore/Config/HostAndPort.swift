/// A host and a port, written `HOST:PORT` with an IPv6 literal in brackets (`[::1]:7777`): the
/// one address type. The config's listen addresses, the command-line flags, the `chat` client's
/// server, a `Host` header and an origin's authority all parse with it, each by its own `Rules`,
/// and every address chatd prints is printed by it.
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// What a text may leave out, and which ports it may name.
    public struct Rules: Sendable {
        /// The port when the text has none; nil: a port is required.
        public var defaultPort: Int?
        /// The host when the text has none (`:7001`, or nothing at all); nil: a host is required.
        public var defaultHost: String?
        public var ports: ClosedRange<Int>
        /// Whether an IPv6 literal may come without brackets (`::1`), and so without a port.
        public var bareIPv6: Bool

        public init(defaultPort: Int?, defaultHost: String?, ports: ClosedRange<Int>, bareIPv6: Bool) {
            self.defaultPort = defaultPort
            self.defaultHost = defaultHost
            self.ports = ports
            self.bareIPv6 = bareIPv6
        }

        /// An address to listen on (`listen`, `web.listen`, `--listen`): host and port required;
        /// port 0 picks a free one.
        public static let listen = Rules(defaultPort: nil, defaultHost: nil, ports: 0...65535, bareIPv6: false)
        /// The server a client connects to: everything optional, chatd's own listener by default.
        public static let server = Rules(defaultPort: 7777, defaultHost: "127.0.0.1", ports: 1...65535, bareIPv6: true)
        /// The same over TLS (`chat tls://HOST`): 6697, as IRC over TLS.
        public static let tlsServer = Rules(defaultPort: 6697, defaultHost: "127.0.0.1", ports: 1...65535, bareIPv6: true)

        /// A `Host` header or an origin's authority: the scheme's port when there is none.
        public static func authority(defaultPort: Int) -> Rules {
            Rules(defaultPort: defaultPort, defaultHost: nil, ports: 1...65535, bareIPv6: false)
        }
    }

    /// Parses `text` by `rules`; host names are kept as written.
    public static func parse(_ text: String, _ rules: Rules) -> Result<HostAndPort, AddressError> {
        let text = Sanitizer.trimmed(Substring(text))
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.unclosedBracket(text)) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return .failure(.trailing(text)) }
                portText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count > 1 {
            guard rules.bareIPv6 else { return .failure(.unbracketedIPv6(text)) }
            host = Substring(text)  // a bare IPv6 literal: no port
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = Substring(text)
        }
        if host.isEmpty {
            guard let defaultHost = rules.defaultHost else { return .failure(.missingHost(text)) }
            host = Substring(defaultHost)
        }
        guard let portText else {
            guard let port = rules.defaultPort else { return .failure(.missingPort(text)) }
            return .success(HostAndPort(host: String(host), port: port))
        }
        guard let port = Int(portText), rules.ports.contains(port) else {
            return .failure(.badPort(String(portText), range: rules.ports))
        }
        return .success(HostAndPort(host: String(host), port: port))
    }

    /// `host:port`, with brackets around an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a text is not an address; `description` says it to a person.
public enum AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    case badPort(String, range: ClosedRange<Int> = 1...65535)
    case unclosedBracket(String)
    case trailing(String)
    case missingHost(String)
    case missingPort(String)
    case unbracketedIPv6(String)

    public var description: String {
        switch self {
        case .badPort(let port, let range): "'\(port)' is not a port number (\(range.lowerBound)-\(range.upperBound))."
        case .unclosedBracket(let text): "'\(text)' opens an IPv6 address with [ but does not close it."
        case .trailing(let text): "'\(text)': expected :PORT after the ]."
        case .missingHost(let text): "missing host in '\(text)' (use 0.0.0.0 or [::] for all addresses)."
        case .missingPort(let text): "expected \"HOST:PORT\", got '\(text)'."
        case .unbracketedIPv6(let text): "write an IPv6 address in brackets, as [::1]:PORT (got '\(text)')."
        }
    }
}
