/// The PROXY protocol header (HAProxy's, versions 1 and 2) a trusted proxy sends before the
/// client's bytes, naming the client's own address. Pure: fed the connection's first bytes, it
/// says whether the header is complete, and what it holds. Only a peer in `proxy.trusted` is
/// asked for one (see `ProxyHeaderHandler`).
public enum ProxyHeader: Equatable, Sendable {
    /// Not enough bytes yet.
    case incomplete
    /// The bytes do not begin a PROXY header (an HTTP request from a proxy that names its
    /// client in headers instead, or a client that got past no proxy).
    case absent
    /// A malformed PROXY header; the connection is refused.
    case invalid(String)
    /// A header of `length` bytes. `client` is the client's address (IPv4 or IPv6 bytes) and
    /// port; nil when the proxy speaks for itself (v2 `LOCAL`, a health check, or v1
    /// `UNKNOWN`): the connection is then the proxy's own.
    case complete(client: (address: [UInt8], port: Int)?, length: Int)

    public static func == (lhs: ProxyHeader, rhs: ProxyHeader) -> Bool {
        switch (lhs, rhs) {
        case (.incomplete, .incomplete), (.absent, .absent): true
        case (.invalid(let a), .invalid(let b)): a == b
        case (.complete(let a, let m), .complete(let b, let n)): m == n && a?.address == b?.address && a?.port == b?.port
        default: false
        }
    }

    /// Version 2's 12-byte signature.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// A version 1 header is at most this long, CRLF included.
    static let v1MaxLength = 107

    /// Reads a header from the start of `bytes`.
    public static func parse(_ bytes: some Collection<UInt8>) -> ProxyHeader {
        let bytes = Array(bytes.prefix(536))  // a v2 header with TLVs fits well inside
        let v1Prefix = Array("PROXY ".utf8)
        if bytes.count < v2Signature.count {
            // Too short to tell: wait, unless it already is neither.
            let couldBeV1 = v1Prefix.starts(with: bytes.prefix(v1Prefix.count)) || bytes.starts(with: v1Prefix)
            let couldBeV2 = v2Signature.starts(with: bytes)
            return couldBeV1 || couldBeV2 ? .incomplete : .absent
        }
        if bytes.starts(with: v2Signature) { return parseV2(bytes) }
        if bytes.starts(with: v1Prefix) { return parseV1(bytes) }
        return .absent
    }

    private static func parseV1(_ bytes: [UInt8]) -> ProxyHeader {
        guard let cr = bytes.prefix(v1MaxLength).firstIndex(of: 0x0D) else {
            return bytes.count >= v1MaxLength ? .invalid("a version 1 header longer than 107 bytes") : .incomplete
        }
        guard cr + 1 < bytes.count else { return .incomplete }
        guard bytes[cr + 1] == 0x0A else { return .invalid("a version 1 header not ended by CRLF") }
        let fields = bytes[..<cr].split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let length = cr + 2
        guard fields.count >= 2 else { return .invalid("a version 1 header without a protocol") }
        switch fields[1] {
        case "UNKNOWN":
            return .complete(client: nil, length: length)
        case "TCP4", "TCP6":
            guard fields.count == 6, let port = Int(fields[4]), (0...65535).contains(port),
                Int(fields[5]).map({ (0...65535).contains($0) }) == true
            else { return .invalid("a malformed version 1 header") }
            let address = fields[1] == "TCP4" ? IPAddressText.v4(fields[2]) : IPAddressText.v6(fields[2])
            guard let address else { return .invalid("a version 1 header with a bad source address") }
            return .complete(client: (address, port), length: length)
        default:
            return .invalid("a version 1 header for protocol \(Sanitizer.cleanArgument(String(fields[1].prefix(16))))")
        }
    }

    private static func parseV2(_ bytes: [UInt8]) -> ProxyHeader {
        guard bytes.count >= 16 else { return .incomplete }
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY protocol version \(versionCommand >> 4)") }
        let length = 16 + Int(bytes[14]) << 8 + Int(bytes[15])
        guard bytes.count >= length || length > 536 else { return .incomplete }
        guard length <= 536 else { return .invalid("a version 2 header of \(length) bytes") }
        switch versionCommand & 0x0F {
        case 0x0: return .complete(client: nil, length: length)  // LOCAL: the proxy's own connection
        case 0x1: break  // PROXY
        default: return .invalid("a version 2 header with command \(versionCommand & 0x0F)")
        }
        let body = bytes[16..<length]
        switch bytes[13] {
        case 0x11:  // TCP over IPv4: source, destination, source port, destination port
            guard body.count >= 12 else { return .invalid("a version 2 TCP4 header too short") }
            let start = body.startIndex
            return .complete(client: (Array(body[start..<start + 4]), Int(body[start + 8]) << 8 + Int(body[start + 9])), length: length)
        case 0x21:  // TCP over IPv6
            guard body.count >= 36 else { return .invalid("a version 2 TCP6 header too short") }
            let start = body.startIndex
            return .complete(client: (Array(body[start..<start + 16]), Int(body[start + 32]) << 8 + Int(body[start + 33])), length: length)
        case 0x00:  // UNSPEC: no address to give
            return .complete(client: nil, length: length)
        default:
            return .invalid("a version 2 header for address family \(bytes[13])")
        }
    }
}

/// IP addresses written as text, read into bytes (IPv4's dotted quad, IPv6's colon form).
enum IPAddressText {
    static func v4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func v6(_ text: String) -> [UInt8]? {
        guard !text.contains("/"), let pattern = AddressPattern(text), pattern.bytes.count == 16 else { return nil }
        return pattern.bytes
    }
}
