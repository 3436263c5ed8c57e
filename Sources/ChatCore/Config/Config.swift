/// chatd's configuration: every key of `config/chatd.json`, documented in docs/CONFIG.md.
///
/// `Config()` is the built-in default, which serves a local development run. A file only needs
/// the keys it changes; unknown keys and wrong types are refused with their path.
public struct Config: Equatable, Sendable {
    public var server = Server()
    /// Addresses to accept chat clients on (`HOST:PORT`, IPv6 as `[::1]:PORT`; port 0 picks one).
    public var listen: [HostAndPort] = [HostAndPort(host: "127.0.0.1", port: 7777)]
    /// Event loop threads; 0 means automatic (`eventLoopCount(cores:)`).
    public var eventLoops = 0
    /// On SIGTERM/SIGINT, how long clients get to receive the goodbye before they are cut off.
    public var shutdownTimeoutSeconds = 5.0
    public var logging = Logging()
    public var limits = Limits()
    public var admin = Admin()
    public var web = Web()
    public var history = History()
    public var tls = TLS()
    public var proxy = Proxy()
    public var metrics = Metrics()
    public var irc = IRC()
    public var accounts = Accounts()
    /// Where chatd keeps state across restarts (the ban list); empty: the default (see `Paths`).
    public var stateDirectory = ""

    public init() {}

    /// The event loops to run on a machine with `cores` CPU cores: `eventLoops`, or when it is 0,
    /// one per core but one, so that a machine of 2 or more cores keeps a core for the kernel's
    /// TCP work and its other processes (at most 64). On a saturated 2-core machine a second loop
    /// only competes with them: it raised chatd's p99 latency at 500k deliveries/s from 30 ms to
    /// over 130 ms (docs/BENCHMARKS.md).
    public func eventLoopCount(cores: Int) -> Int {
        min(eventLoops > 0 ? eventLoops : max(1, cores - 1), ShardSet.capacity)
    }

    /// Room history on disk (docs/CONFIG.md, "history").
    public struct History: Equatable, Sendable {
        /// Whether room lines are kept.
        public var enabled = true
        /// The SQLite file; empty: `history.db` in the state directory (see `Paths.history`).
        public var path = ""
        /// How often waiting lines are written, in one transaction: at most this much is lost
        /// if chatd is killed (SIGKILL, a crash); a stop writes everything first.
        public var flushIntervalMs = 100
        /// Lines of a room's scrollback shown to whoever joins it; 0: none.
        public var replayLines = 50
        /// Lines older than this many days are removed (hourly, and at start); 0: kept for good.
        public var maxAgeDays = 0
        /// Past this many lines in a room, its oldest are removed; 0: no limit.
        public var maxMessagesPerRoom = 0

        /// The retention these keys ask for.
        public var retention: HistoryRetention {
            HistoryRetention(
                maxAgeDays: maxAgeDays > 0 ? maxAgeDays : nil, maxMessagesPerRoom: maxMessagesPerRoom > 0 ? maxMessagesPerRoom : nil)
        }

        /// Lines of scrollback kept in memory and shown on join: never more than retention keeps.
        public var scrollbackLines: Int {
            maxMessagesPerRoom > 0 ? min(replayLines, maxMessagesPerRoom) : replayLines
        }
    }

    /// TLS: listeners that speak it, and the certificate they present (docs/CONFIG.md, "tls").
    public struct TLS: Equatable, Sendable {
        /// Addresses to accept chat clients on over TLS (the same protocol as `listen`, inside
        /// TLS 1.2 or 1.3).
        public var listen: [HostAndPort] = []
        /// The certificate chain, PEM: the server's certificate first, then its intermediates.
        /// Re-read on every reload, so a renewed certificate at the same path takes effect.
        public var certificate = ""
        /// The private key, PEM. It may be readable by root only: systemd's `LoadCredential=`
        /// hands chatd a copy (docs/OPERATIONS.md).
        public var key = ""

    }

    /// IRC clients, on listeners of their own (docs/IRC.md).
    public struct IRC: Equatable, Sendable {
        /// Addresses to accept IRC clients on; none by default.
        public var listen: [HostAndPort] = []
        /// Addresses to accept IRC clients on over TLS (conventionally 6697), with
        /// `tls.certificate` and `tls.key`.
        public var tlsListen: [HostAndPort] = []
        /// The server's name on IRC: the prefix of every server line, and every user's host.
        /// Host-like: letters, digits, dots, hyphens.
        public var serverName = "chatd"
        /// The network's name (`NETWORK` in ISUPPORT; the welcome says it).
        public var network = "chatd"
        /// Seconds of silence from an IRC client before the server sends it `PING` (0: never).
        public var pingIntervalSeconds = 120
        /// Seconds after that `PING` without a word from the client before it is disconnected
        /// ("Ping timeout").
        public var pingTimeoutSeconds = 60

        /// Whether `name` may be a server or network name on IRC (it goes into every line, so
        /// it may not contain spaces, and nothing IRC reads specially).
        public static func isValidName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 63 && name.first != "." && name.last != "."
                && name.unicodeScalars.allSatisfy {
                    ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "." || $0 == "-" || $0 == "_"
                }
        }
    }

    /// Accounts (registered nicks), kept in the history store.
    public struct Accounts: Equatable, Sendable {
        /// log2 of scrypt's N for new password hashes: 15 is 32 MiB a hash.
        /// Lower only for tests; raising it applies to passwords set from then on.
        public var scryptCost = 15
        /// Seconds someone may use a registered nick without signing in to it before being
        /// renamed to a guest nick.
        public var graceSeconds = 60
        /// Only those signed in to an account may talk (a private server).
        public var required = false
    }

    /// Monitoring: Prometheus metrics and a health check, on listeners of their own.
    public struct Metrics: Equatable, Sendable {
        /// Addresses to serve `/metrics` and `/healthz` on; none by default.
        public var listen: [HostAndPort] = []
    }

    /// Proxies in front of chatd (HAProxy, nginx): docs/CONFIG.md, "proxy".
    public struct Proxy: Equatable, Sendable {
        /// Addresses and CIDR blocks of the proxies that send a PROXY protocol header (version 1
        /// or 2) naming the client. A connection from one of them must begin with one; from any
        /// other address, one is refused.
        public var trusted: [String] = []

        /// `trusted`, parsed (the config's rules keep only valid entries).
        public var patterns: [AddressPattern] { trusted.compactMap(AddressPattern.init) }
    }

    /// Whether any listener needs `tls.certificate` and `tls.key`.
    public var needsTLS: Bool { !tls.listen.isEmpty || (web.enabled && !web.tlsListen.isEmpty) || !irc.tlsListen.isEmpty }

    public struct Admin: Equatable, Sendable {
        /// The admin socket's path; empty: the default (see `Paths`).
        public var socket = ""
        /// A group whose members may use the admin socket, besides root and chatd's own user.
        public var group = ""
    }

    /// The browser client: an HTTP listener serving the page, and its WebSocket (`/ws`).
    public struct Web: Equatable, Sendable {
        public var enabled = true
        /// Addresses to serve the page and the WebSocket on.
        public var listen: [HostAndPort] = [HostAndPort(host: "127.0.0.1", port: 8080)]
        /// Addresses to serve them on over TLS (HTTPS, and WSS for the page's WebSocket), with
        /// `tls.certificate` and `tls.key`.
        public var tlsListen: [HostAndPort] = []
        /// Origins (`https://chat.example.org`) whose pages may open the WebSocket. Empty: only
        /// the page chatd serves itself (the Origin's host and port must be the request's Host).
        public var allowedOrigins: [String] = []
        /// Host names (`chat.example.org`) the page and the WebSocket may be reached by, besides
        /// IP addresses, `localhost`, and the names in `listen` and `allowedOrigins`. A request
        /// whose `Host` names anything else is refused, so a DNS-rebinding page cannot reach a
        /// listener bound to loopback.
        public var allowedHosts: [String] = []

        /// Every host name a request's `Host` may carry (lower-cased), besides IP addresses.
        public var hostNames: Set<String> {
            var names: Set<String> = ["localhost"]
            for host in allowedHosts + (listen + tlsListen).map(\.host) + allowedOrigins.compactMap({ WebOrigin($0)?.host }) {
                names.insert(host.lowercased())
            }
            return names
        }
        /// Seconds between pings to a quiet WebSocket client.
        public var pingIntervalSeconds = 30
        /// Seconds a WebSocket client has to answer (with a pong or anything else) before it is
        /// disconnected ("Ping timeout").
        public var pingTimeoutSeconds = 30
        /// Seconds an HTTP connection has to send a whole request, from connecting or from the
        /// previous response: an idle keep-alive connection, or a request trickling in a byte at
        /// a time, is closed then.
        public var requestTimeoutSeconds = 30
    }

    public struct Server: Equatable, Sendable {
        /// Shown in the greeting.
        public var name = "chatd"
        /// Lines shown after the greeting.
        public var motd = ["Welcome! Type to talk to your room; /help lists the commands."]
        /// The room everyone lands in after choosing a nickname.
        public var defaultRoom = "#lobby"
    }

    public struct Logging: Equatable, Sendable {
        /// trace, debug, info, notice, warning, error or critical.
        public var level = "info"
        /// Log the text of every message (off: message bodies are private).
        public var logMessages = false

        public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    }
}

/// Every limit, with a safe default. Enforced by the core and the pipeline.
public struct Limits: Equatable, Sendable {
    /// Longest line a client may send, in bytes, without its line ending.
    public var maxLineBytes = 2048
    /// Longest nickname, in characters.
    public var maxNickLength = 24
    /// Longest room name, in characters after the `#`.
    public var maxRoomNameLength = 32
    /// How many rooms one client may be in at once.
    public var maxRoomsPerClient = 20
    /// Unsent output a client may have queued before it is disconnected as a slow consumer.
    public var sendQueueBytes = 262_144
    /// Overlong lines a client may send (each refused) before it is disconnected.
    public var maxOverlongLines = 5
    /// Lines a client may send per second, sustained (token bucket rate).
    public var floodRate = 5.0
    /// Lines a client may send at once before the rate applies (token bucket size).
    public var floodBurst = 20
    /// Lines held back (delayed) beyond the bucket before the client is cut off for flooding.
    public var floodQueueLines = 100
    /// Connections the server accepts at once, registered or not.
    public var maxClients = 10_000
    /// Connections one address may hold at once.
    public var maxClientsPerAddress = 20
    /// New connections one address may open per minute, sustained.
    public var connectsPerAddressPerMinute = 60
    /// New connections one address may open at once before the per-minute rate applies.
    public var connectBurstPerAddress = 20
    /// Seconds a new connection has to choose a nickname before it is closed.
    public var nickTimeoutSeconds = 60
    /// Joins, parts and quits are told to the whole room only while it has at most this many
    /// members; in bigger rooms only the member concerned sees them (`/who` lists the room).
    public var maxAnnouncedRoomSize = 500
    /// A registered TCP client that has sent nothing and has nothing waiting to be sent for this
    /// many seconds is parked: its socket leaves its event loop for the parking lot, which keeps
    /// what it needs in a few hundred bytes until it speaks again. 0 never parks.
    public var parkIdleSeconds = 1

    public init() {}
}

extension Config {
    /// The rules a value must meet, shared by the file's keys and the command line's overrides,
    /// so a flag is never held to other rules than the key it overrides.
    public enum Rule {
        /// `eventLoops`: 0 is one per core but one.
        public static let eventLoops = 0...ShardSet.capacity

        /// `admin.socket`: empty (the default place), or an absolute path a socket can have.
        public static func adminSocket(_ path: String) -> String? {
            guard path.isEmpty || path.hasPrefix("/") else { return "must be an absolute path" }
            return path.utf8.count < 108 ? nil : "must be shorter than 108 bytes"
        }

        /// `stateDirectory`: empty (the default place), or an absolute path.
        public static func stateDirectory(_ path: String) -> String? {
            path.isEmpty || path.hasPrefix("/") ? nil : "must be an absolute path"
        }

        /// A file chatd reads (`tls.certificate`, `tls.key`): empty (none), or an absolute path.
        public static func filePath(_ path: String) -> String? {
            path.isEmpty || path.hasPrefix("/") ? nil : "must be an absolute path"
        }

        /// `logging.level`.
        public static func logLevel(_ level: String) -> String? {
            Logging.levels.contains(level) ? nil : "must be one of \(Logging.levels.joined(separator: ", "))"
        }
    }
}

/// One problem with a configuration: where it is (a key path such as `limits.maxLineBytes`) and
/// what is wrong.
public struct ConfigIssue: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a configuration.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public init(_ issues: [ConfigIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
