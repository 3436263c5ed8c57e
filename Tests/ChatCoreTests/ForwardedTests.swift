import Testing

@testable import ChatCore

@Suite("Forwarded and X-Forwarded-For")
struct ForwardedTests {
    /// 10.0.0.0/8 are the trusted proxies.
    func client(forwarded: [String] = [], forwardedFor: [String] = []) -> Forwarded.Client {
        let trusted = AddressPattern("10.0.0.0/8")!
        return Forwarded.client(forwarded: forwarded, forwardedFor: forwardedFor, isTrusted: { trusted.contains($0) })
    }

    @Test("the client is the rightmost hop that is not a trusted proxy; what it wrote itself, further left, is not believed")
    func rightmostUntrusted() {
        #expect(client(forwardedFor: ["192.0.2.1"]) == .address([192, 0, 2, 1]))
        #expect(client(forwardedFor: ["203.0.113.9, 192.0.2.1, 10.0.0.2"]) == .address([192, 0, 2, 1]))
        #expect(client(forwardedFor: ["203.0.113.9", "192.0.2.1:5555", " 10.1.1.1 "]) == .address([192, 0, 2, 1]))
        // Every hop trusted: the leftmost is the client.
        #expect(client(forwardedFor: ["10.9.9.9, 10.0.0.2"]) == .address([10, 9, 9, 9]))
        // Garbage left of the client does not matter; garbage to its right does.
        #expect(client(forwardedFor: ["garbage, 192.0.2.1"]) == .address([192, 0, 2, 1]))
        #expect(client(forwardedFor: ["192.0.2.1, garbage"]) == .unnamed("garbage"))
    }

    @Test("RFC 7239: for= in any position, quoted, bracketed IPv6 with a port; unknown and obfuscated names name no client")
    func rfc7239() {
        #expect(client(forwarded: [#"for=192.0.2.60;proto=http;by=203.0.113.43"#]) == .address([192, 0, 2, 60]))
        #expect(
            client(forwarded: [#"proto=https;For="[2001:db8:cafe::17]:4711""#])
                == .address([0x20, 0x01, 0x0D, 0xB8, 0xCA, 0xFE] + Array(repeating: 0, count: 9) + [0x17]))
        #expect(client(forwarded: [#"for="198.51.100.1", for=10.0.0.3"#]) == .address([198, 51, 100, 1]))
        // A quoted comma does not split elements.
        #expect(client(forwarded: [#"for=198.51.100.1;by="a,b""#]) == .address([198, 51, 100, 1]))
        #expect(client(forwarded: ["for=unknown"]) == .unnamed("unknown"))
        #expect(client(forwarded: ["for=_hidden, for=10.0.0.3"]) == .unnamed("_hidden"))
        #expect(client(forwarded: ["proto=http"]) == .unnamed(""))
        // Forwarded wins over X-Forwarded-For.
        #expect(client(forwarded: ["for=192.0.2.7"], forwardedFor: ["192.0.2.8"]) == .address([192, 0, 2, 7]))
    }

    @Test("no header, or an empty one, names nobody")
    func missing() {
        #expect(client() == .missing)
        #expect(client(forwardedFor: [""]) == .unnamed(""))
    }
}
