/// A password as a client sent it: carried to the thread that hashes it and nowhere else. Its
/// description is masked, so a log line or a test failure that prints a request never shows it.
public struct Password: Equatable, Sendable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public var description: String { "(password)" }

    /// The shortest and longest password accepted, in characters.
    public static let lengths = 8...128

    /// Why `text` cannot be a password, or nil.
    public static func problem(_ text: String) -> String? {
        guard lengths.contains(text.count) else {
            return "A password has \(lengths.lowerBound) to \(lengths.upperBound) characters; that one has \(text.count)."
        }
        return nil
    }
}

/// An account as the store keeps it: its name (the nick it protects, as first registered), the
/// key it is found by (the nick's key: the same folding as nicks), and the encoded hash of its
/// password (`PasswordHash` in ChatStore: `scrypt$…`).
public struct AccountRecord: Equatable, Sendable {
    public var key: String
    public var name: String
    public var passwordHash: String
    public var createdAt: Timestamp

    public init(key: String, name: String, passwordHash: String, createdAt: Timestamp) {
        self.key = key
        self.name = name
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// Work on accounts that the directory cannot do under its lock (hashing a password takes tens
/// of milliseconds and a store write): the server carries it out and answers with
/// `Directory.accountDone(_:_:at:)`.
public struct AccountTask: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// Creates the account `name` (key `key`) with `password`.
        case create(name: String, password: Password)
        /// Checks `password` against the account's, then does `then`.
        case verify(password: Password, then: AfterVerify)
    }

    /// What a checked password allows.
    public enum AfterVerify: Equatable, Sendable {
        case signIn
        case changePassword(Password)
        case drop
    }

    public var session: SessionID
    /// The account's key (its nick's key).
    public var key: String
    public var kind: Kind
    /// The client's address, for the per-address sign-in limit.
    public var address: String
    public var re: RequestID?

    public init(session: SessionID, key: String, kind: Kind, address: String, re: RequestID? = nil) {
        self.session = session
        self.key = key
        self.kind = kind
        self.address = address
        self.re = re
    }
}

/// How an `AccountTask` ended.
public enum AccountOutcome: Equatable, Sendable {
    /// Done: created, signed in, changed or dropped; `name` is the account's.
    case done(name: String)
    /// The password did not match.
    case wrongPassword
    /// No such account (it was dropped meanwhile), or one exists already (`create`).
    case noSuchAccount
    case exists
    /// The store could not be used.
    case unavailable(String)
}

/// Failed sign-ins, per account and per address, in a sliding window: past the limit, sign-ins
/// are refused (before any password is hashed) until the window has passed. Bounded: entries
/// whose window has passed are dropped when the table grows.
public struct SignInLimiter: Sendable {
    /// At most this many failures per account, and per address, in `window`.
    public var perAccount = 5
    public var perAddress = 20
    public var window: Int64 = 300_000

    private var failures: [String: (count: Int, since: Timestamp)] = [:]

    public init() {}

    /// The address a limit counts against: the peer's IP, whatever port it came from (a client
    /// address as shown is `IP:PORT`).
    static func host(_ address: String) -> String {
        guard case .success(let parsed) = HostAndPort.parse(address, .server) else { return address }
        return parsed.host
    }

    /// Seconds until `key` (an account's) or `address` may try again, or nil if it may now.
    public func waitSeconds(account key: String, address: String, at now: Timestamp) -> Int? {
        var wait: Int64 = 0
        for (entry, limit) in [("a:" + key, perAccount), ("i:" + Self.host(address), perAddress)] {
            guard let seen = failures[entry], seen.count >= limit else { continue }
            let left = seen.since.milliseconds + window - now.milliseconds
            if left > 0 { wait = max(wait, left) }
        }
        return wait > 0 ? Int((wait + 999) / 1000) : nil
    }

    /// Counts a failed sign-in against `key` and `address`.
    public mutating func fail(account key: String, address: String, at now: Timestamp) {
        if failures.count > 10_000 { failures = failures.filter { $0.value.since.milliseconds + window > now.milliseconds } }
        for entry in ["a:" + key, "i:" + Self.host(address)] {
            if let seen = failures[entry], seen.since.milliseconds + window > now.milliseconds {
                failures[entry] = (seen.count + 1, seen.since)
            } else {
                failures[entry] = (1, now)
            }
        }
    }

    /// A successful sign-in clears the account's count (not the address's).
    public mutating func succeed(account key: String) {
        failures["a:" + key] = nil
    }
}
