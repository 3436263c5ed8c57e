import ChatCore

/// Where to connect: `HOST[:PORT]` as users write it, IPv6 literals included.
public struct ServerAddress: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// chatd's built-in listener.
    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 7777

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 literal (`::1`), or `:port`.
    public static func parse(_ text: String) -> Result<ServerAddress, AddressError> {
        let text = Sanitizer.trimmed(Substring(text))
        if text.isEmpty { return .success(ServerAddress(host: defaultHost, port: defaultPort)) }
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
            host = Substring(text)  // a bare IPv6 literal: no port
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = Substring(text)
        }
        if host.isEmpty { host = Substring(defaultHost) }
        guard let portText else { return .success(ServerAddress(host: String(host), port: defaultPort)) }
        guard let port = Int(portText), (1...65535).contains(port) else { return .failure(.badPort(String(portText))) }
        return .success(ServerAddress(host: String(host), port: port))
    }

    /// `host:port`, with brackets around an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    case badPort(String)
    case unclosedBracket(String)
    case trailing(String)

    public var description: String {
        switch self {
        case .badPort(let port): "'\(port)' is not a port number (1-65535)."
        case .unclosedBracket(let text): "'\(text)' opens an IPv6 address with [ but does not close it."
        case .trailing(let text): "'\(text)': expected :PORT after the ]."
        }
    }
}
