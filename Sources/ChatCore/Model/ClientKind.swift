/// What kind of client a connection is, as `chatctl who` and `/whois` show it: how it connected,
/// or the program it named in its JSON `hello` (`chat 0.1.0`).
public enum ClientKind: Hashable, Sendable, CustomStringConvertible {
    /// Text lines over TCP: telnet, nc.
    case line
    /// JSON lines over TCP, from a program that did not name itself.
    case json
    /// The web client, or any WebSocket client that did not name itself.
    case webSocket
    /// An IRC client, on the IRC listener (`irc.listen`).
    case irc
    /// The program named in the `hello` (`{"type":"hello","client":"chat 0.1.0"}`).
    case program(String)

    public var description: String {
        switch self {
        case .line: "line"
        case .json: "json"
        case .webSocket: "websocket"
        case .irc: "irc"
        case .program(let name): name
        }
    }

    /// The kind a description names (the inverse of `description`, for the admin protocol's
    /// clients).
    public init(_ description: String) {
        switch description {
        case "line": self = .line
        case "json": self = .json
        case "websocket": self = .webSocket
        case "irc": self = .irc
        default: self = .program(description)
        }
    }
}
