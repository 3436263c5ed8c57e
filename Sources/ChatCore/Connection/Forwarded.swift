/// The client behind an HTTP proxy, from the `Forwarded` (RFC 7239) or `X-Forwarded-For`
/// headers a trusted proxy added: pure, so the web listener and the tests share it.
///
/// Each proxy appends the address it got the request from, so the list reads client first,
/// nearest proxy last. Anyone can write the header, so only the right end of it is believed:
/// walking from the peer leftwards, every address in `proxy.trusted` is a proxy, and the first
/// one that is not is the client (with every hop trusted, the leftmost one is).
public enum Forwarded {
    /// What a request's headers say about its client.
    public enum Client: Equatable, Sendable {
        /// Its address (4 or 16 bytes).
        case address([UInt8])
        /// No `Forwarded` or `X-Forwarded-For` header.
        case missing
        /// A hop that must be believed is not an address (`unknown`, an obfuscated name, or
        /// garbage), so the client cannot be named.
        case unnamed(String)
    }

    /// The client of a request that came from a trusted proxy. `forwarded` and `forwardedFor`
    /// are the values of every `Forwarded` and `X-Forwarded-For` header line, in order;
    /// `Forwarded` is used when present. `isTrusted` says whether an address is a trusted proxy.
    public static func client(forwarded: [String], forwardedFor: [String], isTrusted: ([UInt8]) -> Bool) -> Client {
        let hops: [String]
        if !forwarded.isEmpty {
            hops = forwarded.flatMap { elements($0) }.map(forValue)
        } else if !forwardedFor.isEmpty {
            hops = forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map(Sanitizer.trimmed)
        } else {
            return .missing
        }
        guard !hops.isEmpty else { return .missing }
        var client: [UInt8]?
        for hop in hops.reversed() {
            guard let address = address(hop) else { return .unnamed(String(hop.prefix(64))) }
            client = address
            if !isTrusted(address) { break }
        }
        return client.map(Client.address) ?? .missing
    }

    /// The comma-separated elements of a `Forwarded` value (commas inside quotes do not split).
    static func elements(_ value: String) -> [Substring] {
        var parts: [Substring] = []
        var start = value.startIndex
        var quoted = false
        var index = value.startIndex
        while index < value.endIndex {
            let character = value[index]
            if character == "\"" {
                quoted.toggle()
            } else if character == "\\" && quoted {
                index = value.index(after: index)
                if index == value.endIndex { break }
            } else if character == "," && !quoted {
                parts.append(value[start..<index])
                start = value.index(after: index)
            }
            index = value.index(after: index)
        }
        parts.append(value[start...])
        return parts
    }

    /// The `for=` parameter of one `Forwarded` element, unquoted ("" when it has none).
    static func forValue(_ element: Substring) -> String {
        for pair in element.split(separator: ";") {
            let pair = Sanitizer.trimmed(pair)
            guard let equals = pair.firstIndex(of: "="), Sanitizer.trimmed(pair[..<equals]).lowercased() == "for" else { continue }
            let value = Sanitizer.trimmed(pair[pair.index(after: equals)...])
            if value.count >= 2, value.first == "\"", value.last == "\"" { return String(value.dropFirst().dropLast()) }
            return value
        }
        return ""
    }

    /// The address of a hop: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`, `[2001:db8::1]` or
    /// `[2001:db8::1]:4711`.
    static func address(_ hop: String) -> [UInt8]? {
        var text = hop[...]
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            text = text[text.index(after: text.startIndex)..<close]
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = text[..<colon]  // IPv4 with a port
        }
        return AddressPattern.parseAddress(String(text))
    }
}
