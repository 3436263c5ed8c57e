import ChatClient
import Testing

/// Types `text` and applies `keys` to a fresh editor; returns the editor and the last outcome.
private func edit(_ text: String = "", _ keys: [Key] = [], completions: [String] = []) -> (LineEditor, LineEditor.Outcome?) {
    var editor = LineEditor()
    var outcome: LineEditor.Outcome?
    for character in text { outcome = editor.apply(.text(character)) }
    for key in keys {
        outcome = editor.apply(key) { word, _ in completions.filter { $0.lowercased().hasPrefix(word.lowercased()) } }
    }
    return (editor, outcome)
}

@Suite("line editor")
struct LineEditorTests {
    @Test("typing inserts at the cursor; Left, Right, Home and End move it")
    func cursorMovement() {
        var (editor, _) = edit("wrld", [.left, .left, .left])
        #expect(editor.cursor == 1)
        _ = editor.apply(.text("o"))
        _ = editor.apply(.home)
        for c in "hello " { _ = editor.apply(.text(c)) }
        _ = editor.apply(.end)
        _ = editor.apply(.text("!"))
        #expect(editor.text == "hello world!")
        #expect(editor.cursor == 12)
        #expect(edit("ab", [.right]).1 == .unchanged)
        #expect(edit("ab", [.home, .left]).1 == .unchanged)
        #expect(edit("ab", [.ctrl("a"), .ctrl("f")]).0.cursor == 1)
        #expect(edit("ab", [.ctrl("a"), .ctrl("e"), .ctrl("b")]).0.cursor == 1)
    }

    @Test("Backspace and Delete remove around the cursor; Ctrl-D deletes forward or ends input")
    func deleting() {
        #expect(edit("abc", [.backspace]).0.text == "ab")
        #expect(edit("abc", [.home, .delete]).0.text == "bc")
        #expect(edit("abc", [.home, .backspace]).1 == .unchanged)
        #expect(edit("abc", [.left, .ctrl("d")]).0.text == "ab")
        #expect(edit("", [.ctrl("d")]).1 == .endOfInput)
        #expect(edit("x", [.ctrl("c")]).1 == .interrupt)
    }

    @Test("Ctrl-U, Ctrl-K and Ctrl-W kill; Ctrl-Y yanks the last kill back")
    func killAndYank() {
        #expect(edit("hello big world", [.left, .left, .ctrl("u")]).0.text == "ld")
        #expect(edit("hello big world", [.wordLeft, .ctrl("k")]).0.text == "hello big ")
        #expect(edit("hello big world  ", [.ctrl("w")]).0.text == "hello big ")
        #expect(edit("hello big world", [.altBackspace]).0.text == "hello big ")
        let (yanked, _) = edit("hello world", [.ctrl("w"), .home, .ctrl("y")])
        #expect(yanked.text == "worldhello ")
        #expect(edit("one two", [.home, .alt("d")]).0.text == " two")
        #expect(edit("ab", [.ctrl("t")]).0.text == "ba")
    }

    @Test("word motion skips spaces, then a word")
    func wordMotion() {
        let (editor, _) = edit("one two  three", [.wordLeft, .wordLeft])
        #expect(editor.cursor == 4)
        #expect(edit("one two", [.home, .wordRight]).0.cursor == 3)
        #expect(edit("one two", [.home, .alt("f"), .alt("f")]).0.cursor == 7)
        #expect(edit("one two", [.alt("b")]).0.cursor == 4)
    }

    @Test("Enter submits the line, empties the editor and keeps the line in the history")
    func submit() {
        var (editor, outcome) = edit("hi", [.enter])
        #expect(outcome == .submit("hi"))
        #expect(editor.text == "" && editor.cursor == 0)
        #expect(editor.history == ["hi"])
        _ = editor.apply(.enter)
        #expect(editor.history == ["hi"], "blank lines are not remembered")
        for secret in ["/login alice s3cret pass", "/IDENTIFY s3cret", "/register s3cret", "/password a b", "/unregister s3cret"] {
            let (typed, sent) = edit(secret, [.enter])
            #expect(sent == .submit(secret) && typed.history.isEmpty, "a line with a password is sent, never remembered: \(secret)")
        }
    }

    @Test("Up and Down walk the history and come back to the line being typed")
    func history() {
        var (editor, _) = edit("first", [.enter])
        for c in "second" { _ = editor.apply(.text(c)) }
        _ = editor.apply(.enter)
        for c in "draft" { _ = editor.apply(.text(c)) }
        _ = editor.apply(.up)
        #expect(editor.text == "second")
        _ = editor.apply(.up)
        #expect(editor.text == "first")
        #expect(editor.apply(.up) == .unchanged)
        _ = editor.apply(.down)
        _ = editor.apply(.down)
        #expect(editor.text == "draft")
        #expect(editor.apply(.down) == .unchanged)
        // An entry recalled and edited is sent as edited.
        _ = editor.apply(.ctrl("p"))
        _ = editor.apply(.backspace)
        #expect(editor.apply(.enter) == .submit("secon"))
        #expect(editor.history == ["first", "second", "secon"])
    }

    @Test("the history keeps at most its limit, dropping the oldest")
    func historyLimit() {
        var editor = LineEditor(historyLimit: 3)
        for line in ["a", "b", "c", "d"] {
            _ = editor.apply(.text(Character(line)))
            _ = editor.apply(.enter)
        }
        #expect(editor.history == ["b", "c", "d"])
    }

    @Test("Tab completes a nick (with ': ' at the line start), and further Tabs cycle")
    func completion() {
        let nicks = ["bob", "Bobby", "carol"]
        #expect(edit("bo", [.tab], completions: nicks).0.text == "bob: ")
        #expect(edit("bo", [.tab, .tab], completions: nicks).0.text == "Bobby: ")
        #expect(edit("bo", [.tab, .tab, .tab], completions: nicks).0.text == "bob: ")
        #expect(edit("hi ca", [.tab], completions: nicks).0.text == "hi carol ")
        #expect(edit("hi x", [.tab], completions: nicks).1 == .unchanged)
        // Typing after a completion ends the cycle.
        #expect(edit("ca", [.tab, .text("x")], completions: nicks).0.text == "carol: x")
    }

    @Test("Completion picks commands at the line start, rooms after #, nicks otherwise")
    func completionSources() {
        let commands = ["join", "me", "msg", "nick"]
        #expect(Completion.candidates(for: "/m", atLineStart: true, commands: commands, rooms: [], nicks: ["mo"]) == ["/me", "/msg"])
        #expect(
            Completion.candidates(for: "#d", atLineStart: false, commands: [], rooms: ["#dev", "#lobby", "#Docs"], nicks: []) == [
                "#dev", "#Docs",
            ])
        #expect(
            Completion.candidates(for: "A", atLineStart: false, commands: [], rooms: [], nicks: ["alice", "Al", "bob"]) == ["Al", "alice"])
    }

    @Test("a combining mark joins the character before it; the cursor moves by grapheme")
    func combining() {
        var (editor, _) = edit("e")
        _ = editor.apply(.text("\u{301}"))
        #expect(editor.characters == ["é"])
        #expect(editor.cursor == 1)
        _ = editor.apply(.text("日"))
        _ = editor.apply(.left)
        _ = editor.apply(.backspace)
        #expect(editor.text == "日")
    }
}

@Suite("key decoding")
struct KeyDecoderTests {
    private func keys(_ bytes: [UInt8]) -> [Key] {
        var decoder = KeyDecoder()
        return decoder.decode(bytes)
    }

    @Test("printable text, UTF-8 and control keys")
    func basics() {
        #expect(keys(Array("hé日".utf8)) == [.text("h"), .text("é"), .text("日")])
        #expect(keys([0x0D, 0x09, 0x7F, 0x01, 0x17, 0x03]) == [.enter, .tab, .backspace, .ctrl("a"), .ctrl("w"), .ctrl("c")])
    }

    @Test("CSI and SS3 sequences for arrows, Home, End, Delete, Ctrl-arrows")
    func sequences() {
        let input = "\u{1B}[A\u{1B}[B\u{1B}[C\u{1B}[D\u{1B}OH\u{1B}OF\u{1B}[1~\u{1B}[4~\u{1B}[3~\u{1B}[1;5C\u{1B}[1;5D\u{1B}[5~"
        #expect(
            keys(Array(input.utf8)) == [.up, .down, .right, .left, .home, .end, .home, .end, .delete, .wordRight, .wordLeft, .ignored])
        #expect(keys(Array("\u{1B}b\u{1B}\u{7F}".utf8)) == [.alt("b"), .altBackspace])
    }

    @Test("sequences and UTF-8 split across reads are put back together")
    func split() {
        var decoder = KeyDecoder()
        let bytes = Array("a\u{1B}[1;5C日".utf8)
        var all: [Key] = []
        for byte in bytes { all += decoder.decode([byte]) }
        #expect(all == [.text("a"), .wordRight, .text("日")])
        #expect(!decoder.hasPending)
    }

    @Test("a lone Escape waits, then flush() gives it up")
    func loneEscape() {
        var decoder = KeyDecoder()
        #expect(decoder.decode([0x1B]) == [])
        #expect(decoder.hasPending)
        #expect(decoder.flush() == [.ignored])
        #expect(decoder.decode(Array("x".utf8)) == [.text("x")])
    }

    @Test("invalid UTF-8 and C1 controls never become text")
    func invalid() {
        #expect(keys([0xFF, 0x80, 0x41]) == [.ignored, .ignored, .text("A")])
        #expect(keys([0xC2, 0x9B]) == [.ignored])
        #expect(keys([0xE6, 0x41]) == [.ignored, .text("A")])
    }
}

@Suite("display width and the input line")
struct InputLineTests {
    @Test("wide, emoji and combining characters take 2, 2 and 0 columns")
    func widths() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("日本") == 4)
        #expect(DisplayWidth.of("ｈｉ") == 4)
        #expect(DisplayWidth.of("😀") == 2)
        #expect(DisplayWidth.of("e\u{301}") == 1)
        #expect(DisplayWidth.of("👍🏽") == 2)
        #expect(DisplayWidth.of("❤️") == 2)
        #expect(DisplayWidth.of("한글") == 4)
    }

    @Test("the cursor column counts wide characters twice")
    func cursorColumn() {
        var line = InputLine()
        let drawn = line.render(prompt: "> ", characters: Array("日本語"), cursor: 2, width: 80)
        #expect(drawn == "\r> 日本語\u{1B}[K\r\u{1B}[6C")
    }

    @Test("a long line scrolls sideways to keep the cursor in view, never touching the last column")
    func scrolling() {
        var line = InputLine()
        let text = Array(String(repeating: "abcdefghij", count: 5))
        let drawn = line.render(prompt: "> ", characters: text, cursor: text.count, width: 20)
        let visible = drawn.split(separator: "\u{1B}")[0].dropFirst()  // "\r" then prompt and text
        #expect(DisplayWidth.of(visible) <= 19)
        #expect(visible.hasSuffix("ij"))
        #expect(line.scroll > 0)
        // Home scrolls back to the start.
        let home = line.render(prompt: "> ", characters: text, cursor: 0, width: 20)
        #expect(home.hasPrefix("\r> abcdefghij"))
        #expect(line.scroll == 0)
    }
}
