/// A web origin, `scheme://host[:port]`, as browsers send it in the `Origin` header; the
/// WebSocket's allow-list is made of these.
public struct WebOrigin: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    /// Parses an origin, lower-casing scheme and host and filling in the scheme's default port.
    /// Nil for anything else (a path, a query, user info, an unknown scheme, `null`).
    public init?(_ text: String) {
        let lowered = text.lowercased()
        guard let colon = lowered.firstIndex(of: ":"), lowered[colon...].hasPrefix("://") else { return nil }
        scheme = String(lowered[..<colon])
        let defaultPort: Int
        switch scheme {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: return nil
        }
        var rest = lowered[lowered.index(colon, offsetBy: 3)...]
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains(where: { "/?#@ ".contains($0) }) else { return nil }
        guard case .success(let authority) = HostAndPort.parse(String(rest), .authority(defaultPort: defaultPort)) else { return nil }
        host = authority.host
        port = authority.port
    }

    public var description: String { "\(scheme)://\(HostAndPort(host: host, port: port))" }
}

extension WebOrigin {
    /// Whether a request's `Host` header names this server: an IP address (which no DNS name
    /// can be rebound to), or one of `names` (`Config.Web.hostNames`). A DNS-rebinding page
    /// (`evil.example`, resolved to 127.0.0.1 after it loaded) sends its own name, and its
    /// Origin matches that Host, so the Origin check alone would let it in. No Host: not a
    /// browser (HTTP/1.0), which no page can drive.
    public static func allows(host: String?, names: Set<String>) -> Bool {
        guard let host else { return true }
        guard case .success(let parsed) = HostAndPort.parse(host, .authority(defaultPort: 80)) else { return false }
        var name = parsed.host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return AddressPattern.parseAddress(name) != nil || names.contains(name)
    }

    /// A plain host name as `web.allowedHosts` takes it: letters, digits, `-` and `.`.
    public static func isHostName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 253
            && text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
            }
    }

    /// Whether a WebSocket handshake with this `Origin` header may proceed, against the `Host`
    /// it was sent to and the configured allow-list. No Origin: not a browser (browsers always
    /// send one), so cross-site requests are not possible and it may. The page's own origin
    /// (its host and port are the Host the request went to) always may; other origins only if
    /// listed. An opaque origin (`null`, from a sandboxed frame or a file) never may.
    public static func allows(origin: String?, host: String?, allowed: [String]) -> Bool {
        guard let origin else { return true }
        guard let parsed = WebOrigin(origin) else { return false }
        if let host,
            case .success(let target) = HostAndPort.parse(host.lowercased(), .authority(defaultPort: parsed.scheme == "https" ? 443 : 80)),
            target.host == parsed.host, target.port == parsed.port
        {
            return true
        }
        return allowed.contains { WebOrigin($0) == parsed }
    }
}
