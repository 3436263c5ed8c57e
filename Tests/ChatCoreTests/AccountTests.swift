import Testing

@testable import ChatCore

@Suite("accounts in the directory")
struct AccountTests {
    let t0 = Timestamp(milliseconds: 1_000_000)
    let lobby = try! RoomName.validate("#lobby", maxLength: 32).get()
    let a = SessionID(1), b = SessionID(2)

    func directory() throws -> Directory {
        var d = Directory(limits: Limits(), defaultRoom: lobby, shardCount: 1)
        d.seedAccounts(["Carol"])
        _ = try d.register(a, nick: "alice", shard: 0, address: "192.0.2.1", at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 0, address: "192.0.2.2", at: t0).get()
        return d
    }

    func task(_ deliveries: [Delivery]) -> AccountTask? {
        for case .account(let task) in deliveries { return task }
        return nil
    }

    @Test("register: a task for the server with the nick's key; done, the client is signed in; the same nick cannot register twice")
    func register() throws {
        var d = try directory()
        #expect(refusal(d.perform(.register(password: Password("short")), by: a, at: t0)) == .passwordInvalid)
        let out = d.perform(.register(password: Password("long enough")), by: a, at: t0, re: "r")
        let created = try #require(task(out))
        #expect(created.key == "alice" && created.kind == .create(name: "alice", password: Password("long enough")) && created.re == "r")
        #expect("\(created)".contains("long enough") == false, "a password never shows in a description")
        let done = d.accountDone(created, .done(name: "alice"), at: t0)
        #expect(
            done.contains { if case .event(let e, .session(let id)) = $0 { e.kind == .account(name: "alice") && id == a } else { false } })
        #expect(d.clients[a]?.account == "alice" && d.accounts["alice"] == "alice")
        #expect(refusal(d.perform(.register(password: Password("long enough")), by: a, at: t0)) == .alreadySignedIn)
        #expect(
            d.whois(b, nick: "alice", at: t0).contains {
                if case .event(let e, _) = $0, case .whois(let w) = e.kind { w.account == "alice" } else { false }
            })
    }

    @Test("login: checked by the server; a wrong password counts; past the limit, refused before any check, until the window passes")
    func login() throws {
        var d = try directory()
        #expect(refusal(d.perform(.login(nick: "nobody", password: Password("x")), by: b, at: t0)) == .noSuchAccount)
        for attempt in 1...5 {
            let verify = try #require(
                task(d.perform(.login(nick: "carol", password: Password("guess \(attempt)")), by: b, at: t0)), "\(attempt)")
            #expect(verify.key == "carol" && verify.address == "192.0.2.2")
            #expect(refusal(d.accountDone(verify, .wrongPassword, at: t0)) == .wrongPassword)
        }
        #expect(refusal(d.perform(.login(nick: "carol", password: Password("right one")), by: b, at: t0)) == .tooManyAttempts)
        // Another address is limited for that account too; the window passes.
        #expect(refusal(d.perform(.login(nick: "carol", password: Password("right one")), by: a, at: t0)) == .tooManyAttempts)
        let later = Timestamp(milliseconds: t0.milliseconds + 300_001)
        let verify = try #require(task(d.perform(.login(nick: "carol", password: Password("right one")), by: b, at: later)))
        let done = d.accountDone(verify, .done(name: "Carol"), at: later)
        #expect(d.clients[b]?.account == "Carol")
        #expect(d.clients[b]?.nick.display == "Carol", "signed in under another nick, it takes the account's when free")
        #expect(done.contains { if case .event(let e, _) = $0 { e.kind == .nickChange(old: "bob", new: "Carol") } else { false } })
    }

    @Test("the per-address limit counts an address's failures on any account, from any port; another address is not held back")
    func perAddress() {
        var limiter = SignInLimiter()
        let t = Timestamp(milliseconds: 0)
        for attempt in 0..<20 {
            #expect(limiter.waitSeconds(account: "acct\(attempt)", address: "198.51.100.7:\(40_000 + attempt)", at: t) == nil)
            limiter.fail(account: "acct\(attempt)", address: "198.51.100.7:\(40_000 + attempt)", at: t)
        }
        #expect(limiter.waitSeconds(account: "fresh", address: "198.51.100.7:50000", at: t) == 300)
        #expect(limiter.waitSeconds(account: "fresh", address: "198.51.100.8:50000", at: t) == nil)
        #expect(limiter.waitSeconds(account: "fresh", address: "[2001:db8::1]:5", at: t) == nil)
        #expect(SignInLimiter.host("[2001:db8::1]:5") == "2001:db8::1" && SignInLimiter.host("unknown") == "unknown")
    }

    @Test("password and unregister need a signed-in client; a drop signs everyone on that account out")
    func manage() throws {
        var d = try directory()
        #expect(refusal(d.perform(.changePassword(old: Password("a"), new: Password("bbbbbbbb")), by: a, at: t0)) == .notSignedIn)
        let created = try #require(task(d.perform(.register(password: Password("long enough")), by: a, at: t0)))
        _ = d.accountDone(created, .done(name: "alice"), at: t0)
        #expect(
            refusal(d.perform(.changePassword(old: Password("long enough"), new: Password("short")), by: a, at: t0)) == .passwordInvalid)
        let change = try #require(
            task(d.perform(.changePassword(old: Password("long enough"), new: Password("longer still")), by: a, at: t0)))
        #expect(change.kind == .verify(password: Password("long enough"), then: .changePassword(Password("longer still"))))
        let drop = try #require(task(d.perform(.unregister(password: Password("longer still")), by: a, at: t0)))
        let dropped = d.accountDone(drop, .done(name: "alice"), at: t0)
        #expect(d.accounts["alice"] == nil && d.clients[a]?.account == nil)
        #expect(dropped.contains { if case .event(let e, _) = $0 { e.kind == .account(name: nil) } else { false } })
    }

    @Test(
        "a registered nick taken without signing in: told to sign in; renamed to a guest nick at the deadline, not before; a sign-in in time keeps it"
    )
    func protectedNicks() throws {
        var d = try directory()
        let c = SessionID(3)
        let joined = try d.register(c, nick: "CAROL", shard: 0, at: t0).get()
        #expect(
            joined.contains {
                if case .event(let e, .session(c)) = $0, case .notice(let text) = e.kind {
                    text.hasPrefix("Carol is a registered account")
                } else {
                    false
                }
            })
        #expect(d.signInDeadlines[c] == Timestamp(milliseconds: t0.milliseconds + 60_000))
        #expect(d.protectNicks(at: Timestamp(milliseconds: t0.milliseconds + 59_999)).isEmpty)
        let renamed = d.protectNicks(at: Timestamp(milliseconds: t0.milliseconds + 60_000))
        #expect(d.clients[c]?.nick.display == "Guest3")
        #expect(renamed.contains { if case .event(let e, _) = $0 { e.kind == .nickChange(old: "CAROL", new: "Guest3") } else { false } })
        #expect(renamed.contains(.renamed(c, nick: "Guest3", shard: 0)))
        // Back to the nick, and signed in in time: kept.
        _ = d.changeNick(c, to: "carol", at: t0)
        #expect(d.signInDeadlines[c] != nil)
        let verify = try #require(task(d.perform(.login(nick: nil, password: Password("carols password")), by: c, at: t0)))
        _ = d.accountDone(verify, .done(name: "Carol"), at: t0)
        #expect(d.signInDeadlines[c] == nil)
        #expect(d.protectNicks(at: Timestamp(milliseconds: t0.milliseconds + 120_000)).isEmpty && d.clients[c]?.nick.display == "carol")
    }

    @Test("a look-alike of an account's nick is that account's: it cannot be registered apart, it is held, and it signs in to it")
    func lookAlikes() throws {
        var d = try directory()  // the account Carol exists; nobody holds the nick
        let c = SessionID(3)
        let joined = try d.register(c, nick: "CaroI", shard: 0, at: t0).get()  // a capital I for the l
        #expect(
            joined.contains {
                if case .event(let e, _) = $0, case .notice(let text) = e.kind {
                    text.hasPrefix("Carol is a registered account")
                } else {
                    false
                }
            })
        #expect(d.signInDeadlines[c] != nil)
        #expect(refusal(d.perform(.register(password: Password("long enough")), by: c, at: t0)) == .accountExists)
        let verify = try #require(task(d.perform(.login(nick: nil, password: Password("carols password")), by: c, at: t0)))
        #expect(verify.key == "carol", "the account's own key, not the look-alike's")
        _ = d.accountDone(verify, .done(name: "Carol"), at: t0)
        #expect(d.signInDeadlines[c] == nil && d.clients[c]?.account == "Carol")
    }

    @Test("accounts.required: only those signed in talk; anyone may still register")
    func required() throws {
        var d = try directory()
        d.accountsRequired = true
        #expect(refusal(d.perform(.say(text: "hi", room: nil), by: a, at: t0)) == .signInRequired)
        #expect(refusal(d.perform(.privateMessage(to: "bob", text: "hi"), by: a, at: t0)) == .signInRequired)
        #expect(task(d.perform(.register(password: Password("long enough")), by: a, at: t0)) != nil)
    }

    @Test("without the store, accounts are refused with a reason")
    func unavailable() throws {
        var d = Directory(limits: Limits(), defaultRoom: lobby, shardCount: 1)
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        #expect(refusal(d.perform(.register(password: Password("long enough")), by: a, at: t0)) == .accountsUnavailable)
    }

    @Test("text, JSON and IRC requests for accounts")
    func parsing() {
        #expect(Command.parse(line: "/register correct horse battery") == .success(.register(password: Password("correct horse battery"))))
        #expect(Command.parse(line: "/identify s3cret!") == .success(.login(nick: nil, password: Password("s3cret!"))))
        #expect(Command.parse(line: "/login alice s3cret pass") == .success(.login(nick: "alice", password: Password("s3cret pass"))))
        #expect(Command.parse(line: "/password old new one") == .success(.changePassword(old: Password("old"), new: Password("new one"))))
        for command: Command in [
            .register(password: Password("p")), .login(nick: "a", password: Password("p")), .login(nick: nil, password: Password("p")),
            .changePassword(old: Password("o"), new: Password("n")), .unregister(password: Password("p")),
        ] {
            let request = JSONRequest(.command(command), correlation: .integer(1))
            #expect(JSONRequest.parse(request.encoded) == .success(request))
        }
        #expect(IRCDialect.nickServ("IDENTIFY hunter22") == .command(.login(nick: nil, password: Password("hunter22")), re: "NICKSERV"))
        #expect(
            IRCDialect.nickServ("identify alice hunter22")
                == .command(.login(nick: "alice", password: Password("hunter22")), re: "NICKSERV"))
        #expect(
            IRCDialect.nickServ("REGISTER hunter22 a@example.org") == .command(.register(password: Password("hunter22")), re: "NICKSERV"))
        for kind: Event.Kind in [.account(name: "alice"), .account(name: nil)] {
            let event = Event(id: 1, time: t0, kind)
            #expect(try! JSONFormat.parse(JSONFormat.render(event)).get() == event)
        }
    }
}
