import Testing

@testable import ChatCore

@Suite("limits")
struct LimitsTests {
    let second: Int64 = 1_000_000_000

    @Test("the token bucket allows a burst, then the rate, and says how long to wait")
    func bucket() {
        var bucket = TokenBucket(rate: 2, burst: 3, now: 0)
        var taken: [Bool] = []
        for _ in 0..<4 { taken.append(bucket.take(now: 0)) }
        #expect(taken == [true, true, true, false])
        let wait = bucket.wait(now: 0)
        #expect(wait == second / 2)
        let later = [bucket.take(now: second / 2), bucket.take(now: second / 2)]
        #expect(later == [true, false])
        let full = bucket.isFull(now: 10 * second)
        #expect(full)
    }

    @Test("refusals are one typed set, counted under the codes CONFIG.md lists; only a ban is not temporary")
    func refusals() {
        #expect(
            Refusal.allCases.map(\.rawValue) == [
                "server_full", "too_many_from_address", "connect_rate", "banned", "draining", "http", "not_text", "proxy_header",
            ])
        #expect(Refusal.allCases.filter { !$0.isTemporary } == [.banned])
        #expect(Refusal.serverFull.message(Limits()) == "The server is full (10000 connections); please try again later.")
    }

    @Test("admission enforces the total, per-address and connect-rate limits, and forgets idle addresses")
    func admission() {
        var limits = Limits()
        limits.maxClients = 3
        limits.maxClientsPerAddress = 2
        limits.connectBurstPerAddress = 3
        limits.connectsPerAddressPerMinute = 60
        var admission = Admission(limits: limits)
        let a: [UInt8] = [127, 0, 0, 1]
        let b: [UInt8] = [127, 0, 0, 2]
        var results: [Refusal?] = []
        for _ in 0..<4 { results.append(admission.admit(a, now: 0)) }
        // The fourth attempt finds the burst of 3 attempts spent.
        #expect(results == [nil, nil, .tooManyFromAddress, .connectRate])
        let fromB = [admission.admit(b, now: 0), admission.admit(b, now: 0)]
        #expect(fromB == [nil, .serverFull])
        admission.release(a, now: second)
        #expect(admission.connections == 2)
        let again = admission.admit(a, now: 2 * second)  // a token came back after 1 s
        #expect(again == nil)
        for _ in 0..<2 { admission.release(a, now: 10 * second) }
        admission.release(b, now: 10 * second)
        admission.prune(now: 100 * second)
        #expect(admission.trackedAddresses == 0)
        #expect(admission.connections == 0)
    }

    @Test("a TLS hello or binary data before the first line is not text; telnet's CR NUL is")
    func sniffing() {
        func outputs(_ bytes: [UInt8]) -> [LineFramer.Output] {
            var framer = LineFramer(maxLineBytes: 100)
            var out: [LineFramer.Output] = []
            for byte in bytes { framer.feed([byte]) { out.append($0) } }
            return out
        }
        #expect(outputs([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) == [.notText(.tls)])
        #expect(outputs([0x80, 0x2E, 0x01]) == [.notText(.tls)])
        #expect(outputs([0x00, 0x01, 0x02, 0x03, 0x04, 0x0A]) == [.notText(.binary)])
        #expect(outputs(Array("nick\r".utf8) + [0x00] + Array("\r\n".utf8)) == [.line(Array("nick\r".utf8) + [0x00])])
        // After the first line, control characters are the sanitizer's business, not a reason to close.
        #expect(outputs(Array("nick\n".utf8) + [1, 2, 3, 4, 5] + [0x0A]) == [.line(Array("nick".utf8)), .line([1, 2, 3, 4, 5])])
    }

    @Test("an HTTP request line as the first line is recognised; a nick that looks like one later is not")
    func http() {
        var session = Session(limits: Limits())
        let request = session.receive(line: Array("GET / HTTP/1.1".utf8))
        #expect(request == .httpRequest)
        var other = Session(limits: Limits())
        let nick = other.receive(line: Array("GETTER".utf8))
        #expect(nick == .register(nick: "GETTER", re: nil))
        #expect(Session.isHTTPRequestLine(Array("POST /ws HTTP/1.0".utf8)))
        #expect(!Session.isHTTPRequestLine(Array("GET me a coffee".utf8)))
    }
}
