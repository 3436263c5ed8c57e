/// An IP address or CIDR block: `203.0.113.7`, `198.51.100.0/24`, `2001:db8::/32`.
///
/// IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`, what a dual-stack listener reports for an
/// IPv4 client) match IPv4 patterns.
public struct AddressPattern: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// 4 or 16 bytes, with the bits past `prefix` zeroed.
    public let bytes: [UInt8]
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = Self.parseAddress(String(parts[0])) else { return nil }
        let maxPrefix = address.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= maxPrefix, !parts[1].hasPrefix("+") else { return nil }
            prefix = p
        }
        self.prefix = prefix
        self.bytes = Self.mask(address, prefix)
    }

    /// Whether `address` (4 or 16 bytes) lies in this block.
    public func contains(_ address: [UInt8]) -> Bool {
        var address = address
        if address.count == 16, bytes.count == 4, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            address = Array(address[12...])
        }
        guard address.count == bytes.count else { return false }
        return Self.mask(address, prefix) == bytes
    }

    public var description: String {
        let address: String
        if bytes.count == 4 {
            address = bytes.map(String.init).joined(separator: ".")
        } else {
            address = Self.formatIPv6(bytes)
        }
        return prefix == bytes.count * 8 ? address : "\(address)/\(prefix)"
    }

    private static func mask(_ address: [UInt8], _ prefix: Int) -> [UInt8] {
        address.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
    }

    /// Parses a dotted IPv4 or an IPv6 address (with `::` and an optional trailing IPv4).
    public static func parseAddress(_ text: String) -> [UInt8]? {
        if !text.contains(":") { return parseIPv4(Substring(text)) }
        var text = Substring(text)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        var halves = [String(text)]
        if let gap = text.firstRange(of: "::") {
            halves = [String(text[..<gap.lowerBound]), String(text[gap.upperBound...])]
            if halves[1].contains("::") { return nil }
        }
        func groups(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var bytes: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, field) in fields.enumerated() {
                if i == fields.count - 1, field.contains(".") {
                    guard let v4 = parseIPv4(field) else { return nil }
                    bytes += v4
                } else {
                    guard (1...4).contains(field.count), let value = UInt16(field, radix: 16) else { return nil }
                    bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
                }
            }
            return bytes
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let fields = text.split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for field in fields {
            guard (1...3).contains(field.count), field.allSatisfy(\.isASCII), let value = UInt8(field) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    private static func formatIPv6(_ bytes: [UInt8]) -> String {
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // The longest run of zero groups (length ≥ 2) becomes "::".
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.start >= 0 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }
}

/// A ban: who (a nickname or an address block), why, and until when.
public struct Ban: Equatable, Sendable {
    public enum Target: Equatable, Hashable, Sendable {
        /// By folded nick key; `display` is as the operator wrote it.
        case nick(key: String, display: String)
        case address(AddressPattern)

        /// Nick targets are equal when their folded keys are.
        public static func == (lhs: Target, rhs: Target) -> Bool {
            switch (lhs, rhs) {
            case (.nick(let a, _), .nick(let b, _)): a == b
            case (.address(let a), .address(let b)): a == b
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .nick(let key, _): hasher.combine(key)
            case .address(let pattern): hasher.combine(pattern)
            }
        }
    }

    public var target: Target
    public var reason: String?
    public var createdAt: Timestamp
    /// Nil: until unbanned.
    public var expiresAt: Timestamp?

    public init(target: Target, reason: String?, createdAt: Timestamp, expiresAt: Timestamp?) {
        self.target = target
        self.reason = reason
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public var targetText: String {
        switch target {
        case .nick(_, let display): display
        case .address(let pattern): pattern.description
        }
    }

    /// Parses what an operator names: an address or CIDR block, else a nickname.
    public static func target(_ text: String, maxNickLength: Int) -> Target? {
        if let pattern = AddressPattern(text) { return .address(pattern) }
        guard case .success(let nick) = Nickname.validate(text, maxLength: max(maxNickLength, 64)) else { return nil }
        return .nick(key: nick.key, display: nick.display)
    }

    public func isActive(at now: Timestamp) -> Bool { expiresAt.map { now < $0 } ?? true }

    /// The line a refused client reads.
    public var refusal: String {
        "You are banned from this server" + (reason.map { ": \($0)" } ?? ".")
    }

    public var json: JSONValue {
        var object = JSONObject([
            ("target", .string(targetText)),
            ("kind", .string({ if case .nick = target { "nick" } else { "address" } }())),
        ])
        object.append("reason", reason.map(JSONValue.string) ?? .null)
        object.append("createdAt", .string(createdAt.iso8601))
        object.append("expiresAt", expiresAt.map { .string($0.iso8601) } ?? .null)
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue, let text = o.string("target"), let kind = o.string("kind"),
            let created = o.string("createdAt").flatMap(Timestamp.init(iso8601:))
        else { return nil }
        switch kind {
        case "address":
            guard let pattern = AddressPattern(text) else { return nil }
            target = .address(pattern)
        case "nick":
            guard case .success(let nick) = Nickname.validate(text, maxLength: 64) else { return nil }
            target = .nick(key: nick.key, display: nick.display)
        default: return nil
        }
        reason = o.string("reason")
        createdAt = created
        expiresAt = o.string("expiresAt").flatMap(Timestamp.init(iso8601:))
    }
}

/// Every ban, with the rules for adding, lifting, matching and persisting them.
public struct BanList: Equatable, Sendable {
    public private(set) var bans: [Ban] = []

    public init(_ bans: [Ban] = []) { self.bans = bans }

    /// Adds `ban`, replacing an existing ban of the same target.
    public mutating func add(_ ban: Ban) {
        bans.removeAll { $0.target == ban.target }
        bans.append(ban)
    }

    /// Lifts the ban on `target`; returns it, or nil if there was none.
    public mutating func remove(_ target: Ban.Target) -> Ban? {
        guard let index = bans.firstIndex(where: { $0.target == target }) else { return nil }
        return bans.remove(at: index)
    }

    /// Drops expired bans; returns them.
    public mutating func expire(at now: Timestamp) -> [Ban] {
        let expired = bans.filter { !$0.isActive(at: now) }
        bans.removeAll { !$0.isActive(at: now) }
        return expired
    }

    public func matching(address: [UInt8], at now: Timestamp) -> Ban? {
        bans.first { ban in
            guard ban.isActive(at: now), case .address(let pattern) = ban.target else { return false }
            return pattern.contains(address)
        }
    }

    public func matching(nickKey: String, at now: Timestamp) -> Ban? {
        bans.first { $0.isActive(at: now) && $0.target == .nick(key: nickKey, display: "") }
    }

    /// The state file's contents.
    public var fileContents: String {
        JSONValue.object(JSONObject([("version", .integer(1)), ("bans", .array(bans.map(\.json)))])).jsonText + "\n"
    }

    /// Reads a state file; entries it cannot read are reported, the rest kept.
    public static func load(_ text: String) -> (BanList, problems: [String]) {
        guard case .object(let object)? = try? JSONValue.parse(text), case .array(let entries)? = object["bans"] else {
            return (BanList(), ["not a ban list"])
        }
        var list = BanList()
        var problems: [String] = []
        for (i, entry) in entries.enumerated() {
            if let ban = Ban(json: entry) { list.add(ban) } else { problems.append("entry \(i) is not a valid ban") }
        }
        return (list, problems)
    }
}
