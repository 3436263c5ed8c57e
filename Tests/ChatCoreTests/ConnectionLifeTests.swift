import Testing

@testable import ChatCore

/// A connection's life driven by hand: bytes and ticks in at chosen times (a fake clock, in
/// milliseconds), the actions it asks for recorded as a transcript.
struct LifeDriver {
    typealias Action = ConnectionLife.Action
    var life: ConnectionLife
    var actions: [Action] = []
    /// What `register` comes to: granted unless a test says otherwise.
    var registration: ConnectionLife.Outcome = .registered

    init(
        _ transport: ConnectionLife.Transport = .tcp, dialect: DialectID? = nil, limits: Limits = Limits(),
        refusal: (Refusal, message: String)? = nil
    ) {
        life = ConnectionLife(transport: transport, dialect: dialect, limits: limits, now: 0)
        var actions: [Action] = []
        life.start(now: 0, refusal: refusal) {
            actions.append($0); return .done
        }
        self.actions = actions
    }

    static func ms(_ milliseconds: Int64) -> Int64 { milliseconds * 1_000_000 }

    /// Feeds `text` at `at` ms; returns the actions it caused.
    @discardableResult
    mutating func send(_ text: String, at: Int64 = 0) -> [Action] {
        send(Array(text.utf8), at: at)
    }

    @discardableResult
    mutating func send(_ bytes: [UInt8], at: Int64 = 0) -> [Action] {
        var out: [Action] = []
        let registration = self.registration
        bytes.withUnsafeBytes { raw in
            life.receive(raw, now: Self.ms(at)) { action in
                out.append(action)
                if case .register = action { return registration }
                return .done
            }
        }
        actions += out
        return out
    }

    /// Lets time pass to `at` ms; returns the actions that were due.
    @discardableResult
    mutating func tick(at: Int64) -> [Action] {
        var out: [Action] = []
        life.tick(now: Self.ms(at)) {
            out.append($0); return .done
        }
        actions += out
        return out
    }

    var deadline: Int64? { life.nextDeadline.map { $0 / 1_000_000 } }

    /// What JSON says of a line that is not JSON.
    var badJSON: String {
        if case .failure(let error) = JSONRequest.parse(Array("GET / HTTP/1.1".utf8)) { return error.description }
        return ""
    }
}

@Suite("connection life")
struct ConnectionLifeTests {
    typealias Action = ConnectionLife.Action

    @Test("a telnet user: greeted in text after 150 ms, registers with a plain line, talks")
    func textClient() {
        var c = LifeDriver()
        #expect(c.actions.isEmpty)
        #expect(c.deadline == 150)  // the greeting waits for the client to speak first
        #expect(c.tick(at: 149).isEmpty)
        #expect(c.tick(at: 150) == [.greet, .send(.nickRequired, re: nil)])
        #expect(c.deadline == 60_000)  // the nick timeout
        #expect(c.send("alice\r\n", at: 500) == [.register(nick: "alice", kind: .line, re: nil)])
        #expect(c.life.isRegistered)
        #expect(c.deadline == nil)
        #expect(
            c.send("hi all\n/join #dev\n", at: 600) == [
                .perform(.say(text: "hi all", room: nil), re: nil), .perform(.join("#dev"), re: nil),
            ])
        #expect(c.send("/quit bye\n", at: 700) == [.close(reason: "Quit: bye", code: .quit)])
        #expect(c.send("more\n", at: 800).isEmpty)  // saying goodbye: input is ignored
        #expect(c.life.ended() == .init(reason: "Quit: bye", cause: .quit))
    }

    @Test("a line before the greeting is due greets at once, then is handled")
    func speaksFirst() {
        var c = LifeDriver()
        #expect(c.send("bob\n", at: 20) == [.greet, .send(.nickRequired, re: nil), .register(nick: "bob", kind: .line, re: nil)])
        #expect(c.tick(at: 150).isEmpty)  // greeted once
    }

    @Test("a JSON first line switches to JSON: greeted once, in JSON, named by its hello")
    func jsonClient() {
        var c = LifeDriver()
        let hello = #"{"type":"hello","nick":"bot","client":"ci 1.0","id":"1"}"# + "\n"
        #expect(c.send(hello, at: 10) == [.speak(.json), .greet, .register(nick: "bot", kind: .program("ci 1.0"), re: "1")])
        #expect(c.life.speaking == .json)
        #expect(c.deadline == nil)
    }

    @Test("an HTTP request is refused, with no text greeting before the response")
    func http() {
        var c = LifeDriver()
        #expect(c.send("GET / HTTP/1.1\r\nHost: x\r\n", at: 5) == [.refuse(.http, message: "http", detail: nil)])
        #expect(c.life.closing?.quiet == true)
        #expect(c.deadline == nil)
        #expect(c.tick(at: 200).isEmpty)
    }

    @Test("a TLS hello is not text: refused with nothing said, and nothing after")
    func tls() {
        var c = LifeDriver()
        let out = c.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
        #expect(out == [.refuse(.notText, message: "Not a text protocol (tls)", detail: "tls")])
        #expect(c.life.ended().reason == "Not a text protocol (tls)")
    }

    @Test("refused at connect: the admission's message, no greeting and no timers")
    func refusedAtConnect() {
        let c = LifeDriver(refusal: (.serverFull, "The server is full"))
        #expect(c.actions == [.refuse(.serverFull, message: "The server is full", detail: nil)])
        #expect(c.deadline == nil)
        #expect(c.life.closing == .init(reason: "Refused: server_full", notify: true, quiet: true, cause: .refused))
    }

    @Test("no nick in time: closed for policy at the deadline, which a reload does not move")
    func nickTimeout() {
        var limits = Limits()
        limits.nickTimeoutSeconds = 2
        var c = LifeDriver(limits: limits)
        c.tick(at: 150)
        limits.nickTimeoutSeconds = 60
        c.life.reload(limits)
        #expect(c.tick(at: 1_999).isEmpty)
        #expect(c.tick(at: 2_000) == [.close(reason: "No nickname chosen within 2 seconds", code: .policy)])
        #expect(c.life.closing?.cause == .nickTimeout)
    }

    @Test("a refused nick gets the error and the prompt again; the deadline stays")
    func nickRefused() {
        var c = LifeDriver()
        c.registration = .nickRefused(.inUse("alice"))
        let out = c.send("alice\n", at: 200)
        #expect(
            out == [
                .greet, .send(.nickRequired, re: nil), .register(nick: "alice", kind: .line, re: nil),
                .send(.error(code: .nickInUse, message: NickError.inUse("alice").description), re: nil), .send(.nickRequired, re: nil),
            ])
        #expect(!c.life.isRegistered)
        #expect(c.deadline == 60_000)
    }

    @Test("a paste beyond the burst is held, told of once, and released at the flood rate in order")
    func flood() {
        var limits = Limits()
        limits.floodBurst = 2
        limits.floodRate = 4  // one line every 250 ms
        var c = LifeDriver(limits: limits)
        c.send("alice\n", at: 0)  // spends a token
        let out = c.send("one\ntwo\nthree\n", at: 0)
        #expect(
            out == [
                .perform(.say(text: "one", room: nil), re: nil),
                .send(.notice(text: "Slowing down: 2 lines queued, sent at 4 a second."), re: nil),
            ])
        #expect(c.deadline == 250)
        #expect(c.tick(at: 250) == [.perform(.say(text: "two", room: nil), re: nil)])
        #expect(c.deadline == 500)
        #expect(c.send("four\n", at: 300).isEmpty)  // behind the held lines, and not told again
        #expect(c.tick(at: 500) == [.perform(.say(text: "three", room: nil), re: nil)])
        #expect(c.tick(at: 750) == [.perform(.say(text: "four", room: nil), re: nil)])
        #expect(c.deadline == nil)
    }

    @Test("more held lines than floodQueueLines: cut off for flooding")
    func excessFlood() {
        var limits = Limits()
        limits.floodBurst = 1
        limits.floodQueueLines = 3
        var c = LifeDriver(limits: limits)
        c.send("alice\n")
        let out = c.send("1\n2\n3\n4\n5\n")
        #expect(out.last == .close(reason: "Excess flood", code: .policy))
        #expect(c.life.closing?.cause == .flood)
        #expect(!out.contains(.perform(.say(text: "1", room: nil), re: nil)))
        #expect(c.deadline == nil)
    }

    @Test("overlong lines: an error each, then closed at maxOverlongLines")
    func overlong() {
        var limits = Limits()
        limits.maxLineBytes = 8
        limits.maxOverlongLines = 2
        var c = LifeDriver(limits: limits)
        c.send("alice\n")
        let error = Action.send(.error(code: .lineTooLong, message: "Line too long: at most 8 bytes. It was not sent."), re: nil)
        #expect(c.send("0123456789\n") == [error])
        #expect(c.send("0123456789\n") == [.close(reason: "Excess line length", code: .policy)])
        #expect(c.life.closing?.cause == .lineTooLong)
    }

    @Test("telnet negotiation is answered by writing the refusal at once")
    func telnet() {
        var c = LifeDriver()
        #expect(c.send([255, 253, 1]) == [.write([255, 252, 1])])
    }

    @Test("a WebSocket speaks JSON from the start: greeted at once, no text prompt")
    func webSocket() {
        var c = LifeDriver(.webSocket)
        #expect(c.actions == [.speak(.json), .greet])
        #expect(c.deadline == 60_000)
        #expect(c.send(#"{"type":"hello","nick":"web"}"# + "\n") == [.register(nick: "web", kind: .webSocket, re: nil)])
    }

    @Test("a listener of one dialect: no sniffing, greeted at once in it, its first line is not taken for HTTP")
    func fixedDialect() {
        var c = LifeDriver(dialect: .json)
        #expect(c.actions == [.speak(.json), .greet])
        #expect(c.send("GET / HTTP/1.1\n").first == .send(.error(code: .badRequest, message: c.badJSON), re: nil))
    }

    @Test("kick, shutdown and a slow consumer: each closes once, with its reason and whether the rooms hear")
    func closes() {
        var c = LifeDriver()
        c.send("alice\n")
        var out: [Action] = []
        c.life.requestClose(reason: "Server shutting down", code: .shutdown, notify: false) {
            out.append($0); return .done
        }
        c.life.requestClose(reason: "Kicked", code: .kicked, notify: true) {
            out.append($0); return .done
        }
        c.life.sendQueueExceeded {
            out.append($0); return .done
        }
        #expect(out == [.close(reason: "Server shutting down", code: .shutdown)])
        #expect(c.life.ended() == .init(reason: "Server shutting down", notify: false, cause: .shutdown))

        var slow = LifeDriver()
        slow.send("bob\n")
        out = []
        slow.life.sendQueueExceeded {
            out.append($0); return .done
        }
        #expect(out == [.cutOff(reason: "Send queue exceeded")])
        slow.life.failed(reason: "Connection reset by peer")
        #expect(slow.life.ended().reason == "Send queue exceeded")
        #expect(slow.life.closing?.cause == .sendQueue)
    }

    @Test("parking: only a registered, idle connection with a full bucket and nothing half-read may park")
    func mayPark() {
        var limits = Limits()
        limits.floodBurst = 2
        limits.floodRate = 1
        var c = LifeDriver(limits: limits)
        var verdicts: [Bool] = []
        verdicts.append(c.life.mayPark(now: 0))  // not registered
        c.send("alice\n", at: 0)
        verdicts.append(c.life.mayPark(now: LifeDriver.ms(100)))  // a token spent
        verdicts.append(c.life.mayPark(now: LifeDriver.ms(1_000)))
        c.send("half a li", at: 1_000)
        verdicts.append(c.life.mayPark(now: LifeDriver.ms(5_000)))  // half a line held
        c.send("ne\n", at: 5_000)
        verdicts.append(c.life.mayPark(now: LifeDriver.ms(6_000)))
        #expect(verdicts == [false, false, true, false, true])
    }

    @Test("a parked life resumes where it was: registered, in its dialect, past the first-line checks, its telnet refusals kept")
    func resumes() {
        var c = LifeDriver()
        c.send(#"{"type":"hello","nick":"bot","client":"ci 2"}"# + "\n")
        var resumed = LifeDriver()
        resumed.life = ConnectionLife(resuming: c.life.parked(), limits: Limits(), now: 0)  // what the parking lot keeps
        #expect(resumed.life.speaking == .json && resumed.life.isRegistered && resumed.life.nextDeadline == nil)
        #expect(resumed.send(#"{"type":"who","id":"w"}"# + "\n") == [.perform(.who(room: nil), re: "w")])
        #expect(resumed.send(#"{"type":"hello","client":"x"}"# + "\n").count == 1, "already registered")
        // A text client's line that would have looked like a TLS hello or HTTP, once past the
        // first line, is only text; an option it had refused is not refused again.
        var text = LifeDriver()
        text.send([255, 253, 1] + Array("alice\n".utf8))
        var back = LifeDriver()
        back.life = ConnectionLife(resuming: text.life.parked(), limits: Limits(), now: 0)
        #expect(back.send("GET / HTTP/1.1\n") == [.perform(.say(text: "GET / HTTP/1.1", room: nil), re: nil)])
        #expect(back.send([255, 253, 1]).isEmpty)
        #expect(back.send([255, 253, 3]) == [.write([255, 252, 3])])
    }

    @Test("a parked connection keeps a few dozen bytes of its life, not all of it")
    func parkedSize() {
        // 10,000 parked clients must stay a few MB (docs/ARCHITECTURE.md, "Idle clients are parked").
        #expect(MemoryLayout<ConnectionLife.Parked>.size <= 24)
    }
}

@Suite("why connections end")
struct DisconnectCauseTests {
    @Test("a hang-up, a socket error and each close the server asks for have their own cause")
    func causes() {
        var hungUp = ConnectionLife(transport: .tcp, dialect: nil, limits: Limits(), now: 0)
        #expect(hungUp.ended().cause == .closed)
        var broken = ConnectionLife(transport: .tcp, dialect: nil, limits: Limits(), now: 0)
        broken.failed(reason: "Connection reset by peer")
        #expect(broken.ended().cause == .error)
        let expected: [ByeCode: ConnectionLife.Cause] = [
            .quit: .quit, .kicked: .kicked, .banned: .banned, .shutdown: .shutdown, .timeout: .pingTimeout, .policy: .policy,
            .refused: .refused,
        ]
        for code in ByeCode.allCases {
            var life = ConnectionLife(transport: .webSocket, dialect: nil, limits: Limits(), now: 0)
            life.requestClose(reason: "asked", code: code, notify: true) { _ in .done }
            #expect(life.ended().cause == expected[code], "\(code)")
        }
    }
}
