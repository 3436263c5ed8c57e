import Testing

@testable import ChatCore

@Suite("line framing and telnet")
struct LineFramerTests {
    private func frame(_ chunks: [[UInt8]], max: Int = 64) -> [LineFramer.Output] {
        var framer = LineFramer(maxLineBytes: max)
        var outputs: [LineFramer.Output] = []
        for chunk in chunks { framer.feed(chunk) { outputs.append($0) } }
        return outputs
    }

    @Test("LF and CRLF both end a line; the CR is dropped")
    func lineEndings() {
        #expect(frame([Array("a\nb\r\nc".utf8)]) == [.line(Array("a".utf8)), .line(Array("b".utf8))])
    }

    @Test("a line split across reads at every byte is reassembled")
    func byteAtATime() {
        let bytes = Array("hello world\r\n".utf8)
        #expect(frame(bytes.map { [$0] }) == [.line(Array("hello world".utf8))])
    }

    @Test("DO and WILL are refused, WONT/DONT/SB/NOP consumed, IAC IAC is a data byte")
    func telnet() {
        let input: [UInt8] = [255, 253, 1, 104, 255, 251, 31, 105, 255, 250, 31, 0, 80, 255, 240, 255, 241, 255, 252, 3, 255, 255, 10]
        #expect(frame([input]) == [.reply([255, 252, 1]), .reply([255, 254, 31]), .line([104, 105, 255])])
        // Split inside every kind of sequence.
        #expect(frame(input.map { [$0] }) == frame([input]))
    }

    @Test("each option is refused once: a repeated DO or WILL gets no second reply, so replies stay bounded")
    func telnetRefusesOnce() {
        var framer = LineFramer(maxLineBytes: 64)
        var replies: [[UInt8]] = []
        // Every option asked for with DO and WILL, four times over.
        for _ in 0..<4 {
            for option in 0...255 {
                framer.feed([255, 253, UInt8(option), 255, 251, UInt8(option)]) {
                    if case .reply(let bytes) = $0 { replies.append(bytes) }
                }
            }
        }
        #expect(replies.count == 512)
        #expect(replies.prefix(2) == [[255, 252, 0], [255, 254, 0]])
        #expect(Set(replies).count == 512)
    }

    @Test("an overlong line is reported once and discarded to its end; memory stays bounded")
    func overlong() {
        var framer = LineFramer(maxLineBytes: 8)
        var outputs: [LineFramer.Output] = []
        framer.feed(Array(repeating: UInt8(ascii: "x"), count: 1000)) { outputs.append($0) }
        #expect(framer.bufferedBytes == 0)
        framer.feed(Array("tail\nok\n".utf8)) { outputs.append($0) }
        #expect(outputs == [.overlong, .line(Array("ok".utf8))])
        // Exactly the limit, with CRLF, is fine.
        #expect(frame([Array("12345678\r\n".utf8)], max: 8) == [.line(Array("12345678".utf8))])
    }

    @Test("a framer is between lines only with nothing held; past its first line it frames without sniffing")
    func betweenLines() {
        var framer = LineFramer(maxLineBytes: 8)
        var outputs: [LineFramer.Output] = []
        #expect(!framer.isBetweenLines)  // the first line is still to be sniffed
        framer.feed(Array("nick\r\n".utf8)) { outputs.append($0) }
        #expect(framer.isBetweenLines)
        for partial: [UInt8] in [Array("hal".utf8), [255], [255, 250], Array("toolongline".utf8)] {
            var held = framer
            held.feed(partial) { outputs.append($0) }
            #expect(!held.isBetweenLines, "after \(partial)")
        }
        var resumed = framer  // what a parked connection keeps
        outputs = []
        // What a fresh framer would take for a TLS hello is, past the first line, just bytes.
        resumed.feed([0x16, 0x03, 0x01, 10, 104, 105, 10]) { outputs.append($0) }
        #expect(outputs == [.line([0x16, 0x03, 0x01]), .line([104, 105])])
    }
}

@Suite("sanitizing")
struct SanitizerTests {
    @Test(
        "controls, escape sequences and bidi overrides are stripped; invalid UTF-8 repaired",
        arguments: [
            ("plain text", "plain text"),
            ("\u{1B}[31mred\u{1B}[0m", "red"),
            ("\u{1B}]0;title\u{07}after", "after"),
            ("\u{1B}]8;;http://x\u{1B}\\link\u{1B}]8;;\u{1B}\\", "link"),
            ("a\u{1B}Pdcs payload\u{1B}\\b", "ab"),
            ("tab\there", "tab here"),
            ("nul\u{0}bell\u{7}del\u{7F}", "nulbelldel"),
            ("c1\u{9B}31mcsi", "c1csi"),
            ("\u{202E}evil\u{2066}iso\u{2069}", "eviliso"),
            ("emoji 👩‍💻 ok", "emoji 👩‍💻 ok"),
            ("\u{1B}7saved\u{1B}8", "saved"),
            ("\u{1B}(Bcharset", "charset"),
        ])
    func strips(input: String, expected: String) {
        #expect(Sanitizer.clean(input) == expected)
    }

    @Test("invalid UTF-8 becomes U+FFFD")
    func invalidUTF8() {
        #expect(Sanitizer.clean([0x61, 0xC3, 0x28, 0xFF, 0x62] as [UInt8]) == "a\u{FFFD}(\u{FFFD}b")
    }

    @Test("random bytes never trap and never leave a control character", arguments: 0..<20)
    func neverTraps(seed: Int) {
        var rng = SplitMix(seed: UInt64(seed))
        for _ in 0..<200 {
            let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let clean = Sanitizer.clean(bytes)
            #expect(!clean.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{202E}" })
        }
    }
}

@Suite("names")
struct NameTests {
    @Test("case, width and look-alike letters fold to one key")
    func folding() throws {
        let keys = try ["Alice", "ALICE", "Ａｌｉｃｅ"].map { try Nickname.validate($0, maxLength: 24).get().key }
        #expect(Set(keys).count == 1)
        // All-Cyrillic letters that look Latin fold onto the Latin nick.
        #expect(try Nickname.validate("сор", maxLength: 24).get() == Nickname.validate("cop", maxLength: 24).get())
        #expect(try Nickname.validate("Ａｌｉｃｅ", maxLength: 24).get().display == "Ａｌｉｃｅ")
    }

    @Test("look-alikes are found by their UTS #39 skeleton, not a hand-kept table")
    func confusables() throws {
        let alice = try Nickname.validate("alice", maxLength: 24).get()
        // Latin with a dental click (U+01C0); all-Cyrillic with a palochka (U+04CF), which
        // Unicode's data takes for an i, so it is caught by its shape.
        #expect(try Nickname.validate("a\u{1C0}ice", maxLength: 24).get().key == alice.key)
        #expect(try Nickname.validate("\u{430}\u{4CF}\u{456}\u{441}\u{435}", maxLength: 24).get().shapeKey == alice.key)
        // A capital I for an l: a different nick once folded, the same shape before.
        let capitalI = try Nickname.validate("aIice", maxLength: 24).get()
        #expect(capitalI.key != alice.key && capitalI.shapeKey == alice.key)
        #expect(try Nickname.validate("rnodern", maxLength: 24).get().key == Nickname.validate("modern", maxLength: 24).get().key)
        // The reserved names are found the same way: all-Cyrillic "server".
        #expect(Nickname.validate("\u{455}\u{435}\u{433}\u{475}\u{435}\u{433}", maxLength: 24) == .failure(.reserved))
        #expect(Nickname.validate("R00T", maxLength: 24) == .failure(.reserved))
        // Distinct nicks stay distinct.
        #expect(try Nickname.validate("alicia", maxLength: 24).get().keys.allSatisfy { !alice.keys.contains($0) })
    }

    @Test("invisible characters, blank letters and stacked marks are refused; length counts bytes too")
    func invisibles() {
        for nick in [
            "alice\u{34F}", "alice\u{FE0F}", "alice\u{180B}", "root\u{34F}", "admin\u{FE0F}", "spammer\u{34F}", "al\u{200D}ice",
            "\u{3164}", "\u{115F}", "a\u{3164}b", "x\u{2800}",
        ] {
            guard case .failure(.invalidCharacter(let c)) = Nickname.validate(nick, maxLength: 24) else {
                Issue.record("\(nick.unicodeScalars.map(\.value)) was not refused as an invalid character")
                continue
            }
            #expect(NickError.invalidCharacter(c).description.contains("U+"), "shown by code point")
        }
        #expect(Nickname.validate("a" + String(repeating: "\u{301}", count: 2000), maxLength: 24) == .failure(.tooManyMarks))
        #expect(Nickname.validate("a\u{301}\u{302}\u{303}", maxLength: 24) == .failure(.tooManyMarks))
        #expect((try? Nickname.validate("a\u{301}\u{302}b", maxLength: 24).get()) != nil, "two marks are fine")
        // Twenty characters of five bytes each: within the characters, past the bytes.
        #expect(Nickname.validate(String(repeating: "a\u{301}\u{302}", count: 20), maxLength: 20) == .failure(.tooLong(max: 20)))
        #expect(RoomName.validate("#dev\u{34F}", maxLength: 32) == .failure(.invalidCharacter("\u{34F}")))
        #expect(RoomName.validate("#a" + String(repeating: "\u{301}", count: 2000), maxLength: 32) == .failure(.tooManyMarks))
        #expect(
            RoomName.validate("#" + String(repeating: "\u{1F600}", count: 10), maxLength: 32) == .failure(.invalidCharacter("\u{1F600}")))
    }

    @Test(
        "refusals say exactly why",
        arguments: [
            ("", NickError.empty),
            ("two words", .containsSpace),
            ("a23456789", .tooLong(max: 8)),
            ("1st", .badFirstCharacter("1")),
            ("-dash", .badFirstCharacter("-")),
            ("semi;c", .invalidCharacter(";")),
            ("pаypal", .mixedScripts),  // Latin with a Cyrillic а
            ("Server", .reserved),
        ])
    func refusals(nick: String, error: NickError) {
        #expect(Nickname.validate(nick, maxLength: 8) == .failure(error))
    }

    @Test("accepted nicks include other scripts and IRC punctuation")
    func accepted() {
        for nick in ["zoë", "Влад", "名前", "[bot]", "a_b-c|d^e`f{g}"] {
            #expect((try? Nickname.validate(nick, maxLength: 24).get()) != nil, "\(nick)")
        }
    }

    @Test("room names get their # and fold like nicks")
    func rooms() throws {
        #expect(try RoomName.validate("Dev", maxLength: 32).get().display == "#Dev")
        #expect(try RoomName.validate("#dev", maxLength: 32).get() == RoomName.validate("#DEV", maxLength: 32).get())
        #expect(RoomName.validate("#bad room", maxLength: 32) == .failure(.invalidCharacter(" ")))
        #expect(RoomName.validate("#", maxLength: 32) == .failure(.empty))
    }
}

/// A small seeded generator, so randomized tests are repeatable.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
