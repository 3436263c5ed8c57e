import ChatCore

/// What every connection handler needs from the config; reload replaces it. Shared, not copied:
/// a connection holds a reference to the one in force.
final class ConnectionSettings: Sendable {
    let greeting: Event.Kind
    let logMessages: Bool
    let limits: Limits
    let web: Config.Web
    /// `proxy.trusted`: peers that must begin with a PROXY header, and the only ones that may.
    let trustedProxies: [AddressPattern]
    /// `accounts.*` (the directory applies them).
    let accounts: Config.Accounts

    /// Whether a connection from `address` comes through a trusted proxy.
    func isTrustedProxy(_ address: [UInt8]?) -> Bool {
        guard let address, !trustedProxies.isEmpty else { return false }
        return trustedProxies.contains { $0.contains(address) }
    }

    init(_ config: Config) {
        greeting = .hello(
            server: config.server.name, version: ChatServerInfo.version, motd: config.server.motd, limits: ClientLimits(config.limits))
        logMessages = config.logging.logMessages
        limits = config.limits
        web = config.web
        trustedProxies = config.proxy.patterns
        accounts = config.accounts
    }
}

/// Asks a connection to say goodbye and close (server shutdown, a kick), delivered as a user
/// event on the connection's own loop.
struct CloseRequest: Sendable {
    var reason: String
    /// Tell the rooms the client was in (false on shutdown: everyone is leaving).
    var notify: Bool
    var code: ByeCode
}

/// Fired into a connection whose fan-out backlog passed its send queue limit.
struct SlowConsumer: Sendable {}

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

extension IRCServerInfo {
    /// What IRC clients are told, from `config` (set at start and on reload).
    init(_ config: Config, startedAt: Timestamp) {
        self.init(
            serverName: config.irc.serverName, network: config.irc.network, version: ChatServerInfo.version, createdAt: startedAt,
            motd: config.server.motd, nickLength: config.limits.maxNickLength, roomNameLength: config.limits.maxRoomNameLength,
            maxRooms: config.limits.maxRoomsPerClient, pingIntervalSeconds: config.irc.pingIntervalSeconds,
            pingTimeoutSeconds: config.irc.pingTimeoutSeconds)
    }
}
