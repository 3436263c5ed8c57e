/// Why a connection was turned away at connect, or closed before it chatted: typed here, and
/// rendered only at the edge (the client's line, the HTTP status, the log). `rawValue` is the
/// code `chatctl stats` counts it under (`refused`).
public enum Refusal: String, Equatable, Sendable, CaseIterable {
    case serverFull = "server_full"
    case tooManyFromAddress = "too_many_from_address"
    case connectRate = "connect_rate"
    /// The address is banned (`chatctl ban`).
    case banned
    /// The server is draining for maintenance (`chatctl drain`).
    case draining
    /// An HTTP request on the chat port.
    case http
    /// A TLS handshake or binary data on the chat port.
    case notText = "not_text"
    /// A PROXY protocol header from a peer not in `proxy.trusted`, or none (or a broken one)
    /// from a peer in it.
    case proxyHeader = "proxy_header"

    /// The line the refused client reads, for the refusals the limits decide (the others carry
    /// their own: the ban's reason, the operator's drain message, the HTTP response).
    public func message(_ limits: Limits) -> String {
        switch self {
        case .serverFull: "The server is full (\(limits.maxClients) connections); please try again later."
        case .tooManyFromAddress: "Too many connections from your address (at most \(limits.maxClientsPerAddress))."
        case .connectRate: "Too many connection attempts from your address; please wait a moment and try again."
        case .banned: "You are banned from this server."
        case .draining: "The server is closed for maintenance; please try again later."
        case .http: "an HTTP request on the chat port"
        case .notText: "not a text protocol"
        case .proxyHeader: "a PROXY header from an address not in proxy.trusted"
        }
    }

    /// Whether the client may try again later by itself (not after a ban).
    public var isTemporary: Bool { self != .banned }

    /// The code of the `bye` a refused JSON client gets.
    public var byeCode: ByeCode { isTemporary ? .refused : .banned }
}

/// Who may connect: the total and per-address connection limits and the per-address connect
/// rate. One instance for the whole server, behind a lock; every admitted connection is released
/// when it closes.
public struct Admission: Sendable {
    private struct Entry: Sendable {
        var connections = 0
        var attempts: TokenBucket
    }

    public var limits: Limits
    public private(set) var connections = 0
    private var addresses: [[UInt8]: Entry] = [:]

    public init(limits: Limits) { self.limits = limits }

    /// Decides on a new connection from `address` (4 or 16 bytes) at monotonic `now`.
    public mutating func admit(_ address: [UInt8], now: Int64) -> Refusal? {
        let perMinute = Double(limits.connectsPerAddressPerMinute)
        var entry =
            addresses[address]
            ?? Entry(attempts: TokenBucket(rate: perMinute / 60, burst: Double(limits.connectBurstPerAddress), now: now))
        entry.attempts.rate = perMinute / 60
        entry.attempts.burst = Double(limits.connectBurstPerAddress)
        defer { addresses[address] = entry }
        // Every attempt spends a token, refused or not: a client hammering the port stays out.
        guard entry.attempts.take(now: now) else { return .connectRate }
        guard connections < limits.maxClients else { return .serverFull }
        guard entry.connections < limits.maxClientsPerAddress else { return .tooManyFromAddress }
        entry.connections += 1
        connections += 1
        return nil
    }

    /// An admitted connection from `address` closed.
    public mutating func release(_ address: [UInt8], now: Int64) {
        guard var entry = addresses[address] else { return }
        entry.connections = max(0, entry.connections - 1)
        connections = max(0, connections - 1)
        addresses[address] = entry.connections == 0 && entry.attempts.isFull(now: now) ? nil : entry
    }

    /// Forgets addresses with no connections whose attempt buckets have refilled, so the table
    /// does not grow with every address ever seen. Call it now and then.
    public mutating func prune(now: Int64) {
        for (address, var entry) in addresses where entry.connections == 0 {
            addresses[address] = entry.attempts.isFull(now: now) ? nil : entry
        }
    }

    /// Addresses tracked (for tests and stats).
    public var trackedAddresses: Int { addresses.count }
}
