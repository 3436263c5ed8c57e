import Testing

@testable import ChatCore

@Suite("admin protocol")
struct AdminProtocolTests {
    @Test(
        "every command survives encode then parse",
        arguments: [
            AdminCommand.who, .rooms, .stats, .reload, .bans, .undrain, .kick(nick: "bob", reason: "spam"), .kick(nick: "bob", reason: nil),
            .say(text: "hi \"all\"", room: "#dev"), .ban(target: "10.0.0.0/8", duration: 3600, reason: nil), .unban(target: "bob"),
            .drain(message: "later", shutdownAfter: 60), .drain(message: nil, shutdownAfter: nil), .history(room: "#dev", limit: 5),
            .history(room: "#dev", limit: nil), .backup(path: "/var/lib/chatd/copy.db"),
            .purge(room: "#dev", nick: "bob", before: "2026-11-21", event: 5_000_000_000),
            .purge(room: nil, nick: nil, before: nil, event: 3),
        ])
    func roundTrip(command: AdminCommand) {
        let request = AdminRequest(id: "42", command)
        #expect(AdminRequest.parse(Array(request.encoded().dropLast())) == .success(request))
    }

    @Test("malformed requests are refused with a code, keeping the id when readable")
    func refusals() {
        func code(_ text: String) -> AdminFailure.Code? {
            if case .failure(let failure) = AdminRequest.parse(Array(text.utf8)) { return failure.code }
            return nil
        }
        #expect(code("nope") == .badRequest)
        #expect(code("[]") == .badRequest)
        #expect(code(#"{"cmd":"who"}"#) == .badRequest)
        #expect(code(#"{"v":3,"cmd":"who"}"#) == .unsupportedVersion)
        #expect(code(#"{"v":1,"cmd":"fly"}"#) == .unknownCommand)
        #expect(code(#"{"v":1,"cmd":"who","extra":1}"#) == .badRequest)
        #expect(code(#"{"v":1,"cmd":"ban","target":"x","duration":"1h"}"#) == .badRequest)
        #expect(code(#"{"v":1,"cmd":"ban","target":"x","duration":-5}"#) == .badRequest)
        guard case .failure(let failure) = AdminRequest.parse(Array(#"{"v":1,"id":"a","cmd":"kick"}"#.utf8)) else {
            Issue.record("accepted")
            return
        }
        #expect(failure.id == "a")
    }

    @Test("responses round-trip, with error details")
    func responses() {
        let ok = AdminResponse(id: "1", .success(.object(JSONObject([("n", .integer(3))]))))
        #expect(AdminResponse.parse(Array(ok.encoded().dropLast())) == ok)
        let failure = AdminResponse(id: "2", .failure(AdminFailure(.configInvalid, "bad", id: "2", details: ["a: b"])))
        #expect(AdminResponse.parse(Array(failure.encoded().dropLast())) == failure)
    }
}

@Suite("bans")
struct BanTests {
    let t0 = Timestamp(milliseconds: 1_000_000)

    @Test("CIDR blocks match IPv4, IPv6 and IPv4-mapped addresses")
    func patterns() throws {
        let block = try #require(AddressPattern("198.51.100.0/24"))
        #expect(block.contains([198, 51, 100, 77]))
        #expect(!block.contains([198, 51, 101, 1]))
        #expect(block.contains(AddressPattern.parseAddress("::ffff:198.51.100.9")!))
        let v6 = try #require(AddressPattern("2001:db8::/32"))
        #expect(v6.contains(AddressPattern.parseAddress("2001:db8:1::5")!))
        #expect(!v6.contains(AddressPattern.parseAddress("2001:db9::1")!))
        #expect(AddressPattern("10.1.2.3/8")?.description == "10.0.0.0/8")
        #expect(AddressPattern("::1")?.description == "::1")
        #expect(AddressPattern("2001:DB8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
        for bad in ["10.0.0.256", "10.0.0", "1.2.3.4/33", "::1::2", "1:2:3:4:5:6:7:8:9", "bob", "1.2.3.4/-1", "12345::"] {
            #expect(AddressPattern(bad) == nil, "\(bad)")
        }
    }

    @Test("a ban target is an address or block, else a nickname")
    func targets() {
        #expect(Ban.target("203.0.113.7", maxNickLength: 24) == .address(AddressPattern("203.0.113.7")!))
        #expect(Ban.target("Bob", maxNickLength: 24) == .nick(key: "bob", display: "Bob"))
        #expect(Ban.target("not valid!", maxNickLength: 24) == nil)
    }

    @Test("bans match until they expire, replace each other, and persist")
    func list() throws {
        var list = BanList()
        list.add(
            Ban(
                target: .address(AddressPattern("10.0.0.0/8")!), reason: "spam", createdAt: t0,
                expiresAt: Timestamp(milliseconds: 2_000_000)))
        list.add(Ban(target: Ban.target("Evil", maxNickLength: 24)!, reason: nil, createdAt: t0, expiresAt: nil))
        #expect(list.matching(address: [10, 9, 8, 7], at: t0)?.reason == "spam")
        #expect(list.matching(address: [10, 9, 8, 7], at: Timestamp(milliseconds: 2_000_000)) == nil)
        #expect(list.matching(nickKey: "evil", at: t0) != nil)
        list.add(Ban(target: Ban.target("EVIL", maxNickLength: 24)!, reason: "again", createdAt: t0, expiresAt: nil))
        #expect(list.bans.count == 2)

        let (loaded, problems) = BanList.load(list.fileContents)
        #expect(problems.isEmpty)
        #expect(loaded == list)
        #expect(BanList.load(#"{"bans":[{"target":"x"}, 5]}"#).problems.count == 2)

        var expiring = loaded
        #expect(expiring.expire(at: Timestamp(milliseconds: 3_000_000)).count == 1)
        #expect(expiring.remove(Ban.target("evil", maxNickLength: 24)!) != nil)
        #expect(expiring.bans.isEmpty)
    }

    @Test("timestamps parse back from their ISO form")
    func timestamps() {
        for ms: Int64 in [0, 951_782_400_123, 1_795_305_599_123, 4_102_444_800_000] {
            #expect(Timestamp(iso8601: Timestamp(milliseconds: ms).iso8601) == Timestamp(milliseconds: ms))
        }
    }
}

@Suite("paths and config diffs")
struct PathTests {
    @Test("the admin socket follows systemd's RuntimeDirectory, then root, then XDG")
    func adminSocket() {
        #expect(Paths.adminSocket(configured: "/x.sock", environment: [:], uid: 0) == "/x.sock")
        #expect(
            Paths.adminSocket(configured: "", environment: ["RUNTIME_DIRECTORY": "/run/chatd:/run/other"], uid: 999)
                == "/run/chatd/admin.sock")
        #expect(Paths.adminSocket(configured: "", environment: [:], uid: 0) == "/run/chatd/admin.sock")
        #expect(
            Paths.adminSocket(configured: "", environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], uid: 1000)
                == "/run/user/1000/chatd/admin.sock")
        #expect(Paths.adminSocket(configured: "", environment: [:], uid: 1000) == "/tmp/chatd-1000/admin.sock")
        #expect(Paths.stateDirectory(configured: "", environment: ["STATE_DIRECTORY": "/var/lib/chatd"], uid: 5) == "/var/lib/chatd")
        #expect(Paths.stateDirectory(configured: "", environment: ["HOME": "/home/a"], uid: 5) == "/home/a/.local/state/chatd")
    }

    @Test("changed keys are listed; restart-only keys are known")
    func diff() throws {
        var changed = Config()
        changed.server.motd = ["new"]
        changed.listen = [HostAndPort(host: "0.0.0.0", port: 1)]
        changed.limits.sendQueueBytes = 8192
        #expect(changed.changedKeys(from: Config()) == ["limits.sendQueueBytes", "listen", "server.motd"])
        #expect(Config.restartKeys.contains("listen"))
        #expect(!Config.restartKeys.contains("server.motd"))
    }
}

@Suite("web origins")
struct WebOriginTests {
    @Test("origins parse with default ports; paths, user info and other schemes do not")
    func parsing() {
        #expect(WebOrigin("https://Chat.Example.org")?.description == "https://chat.example.org:443")
        #expect(WebOrigin("http://127.0.0.1:8080")?.port == 8080)
        #expect(WebOrigin("http://[::1]:8080")?.host == "::1")
        for bad in ["null", "chat.example.org", "ftp://x", "https://x/path", "https://user@x", "https://x:99999", "https://"] {
            #expect(WebOrigin(bad) == nil, "\(bad)")
        }
    }

    @Test("the page's own origin and listed ones are allowed; others, and null, are not; no Origin is not a browser")
    func allowing() {
        #expect(WebOrigin.allows(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080", allowed: []))
        #expect(WebOrigin.allows(origin: "http://chat.example.org", host: "chat.example.org", allowed: []))
        #expect(WebOrigin.allows(origin: "https://chat.example.org", host: "chat.example.org", allowed: []))
        #expect(!WebOrigin.allows(origin: "http://127.0.0.1:8081", host: "127.0.0.1:8080", allowed: []))
        #expect(!WebOrigin.allows(origin: "http://evil.example", host: "127.0.0.1:8080", allowed: []))
        #expect(WebOrigin.allows(origin: "https://app.example.org", host: "127.0.0.1:8080", allowed: ["https://app.example.org:443"]))
        #expect(!WebOrigin.allows(origin: "http://app.example.org", host: "127.0.0.1:8080", allowed: ["https://app.example.org"]))
        #expect(!WebOrigin.allows(origin: "null", host: "127.0.0.1:8080", allowed: ["null"]))
        #expect(WebOrigin.allows(origin: nil, host: "127.0.0.1:8080", allowed: []))
    }
}
