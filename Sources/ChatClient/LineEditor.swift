/// The input line of the interactive client: text, cursor, history, kill buffer and Tab
/// completion, with the key bindings of readline and emacs. It is pure state: the caller feeds it
/// keys and draws `InputLine` from it.
public struct LineEditor: Sendable {
    /// What a key did, for the caller to act on.
    public enum Outcome: Equatable, Sendable {
        /// The line changed or the cursor moved: redraw it.
        case edited
        /// Nothing changed (e.g. Left at the start of the line).
        case unchanged
        /// Enter: the line to send. The editor is already empty and the line is in the history.
        case submit(String)
        /// Ctrl-D on an empty line, or Ctrl-C: the user wants to leave.
        case endOfInput
        case interrupt
        /// Ctrl-L: clear the screen and redraw.
        case redrawScreen
        /// Ctrl-Z: suspend the client.
        case suspend
    }

    public private(set) var characters: [Character] = []
    /// The cursor, as an index into `characters` (0 = before the first one).
    public private(set) var cursor = 0
    public private(set) var history: [String] = []
    public let historyLimit: Int

    /// While browsing the history: the entry shown, and the line that was being typed before.
    private var historyIndex: Int?
    private var draft: [Character] = []
    private var killed: [Character] = []
    private var completion: CompletionState?

    private struct CompletionState: Sendable {
        var start: Int
        var candidates: [String]
        var next: Int
        var suffix: String
    }

    public init(historyLimit: Int = 500) {
        self.historyLimit = historyLimit
    }

    public var text: String { String(characters) }

    /// Replaces the whole line (the cursor goes to its end).
    public mutating func setText(_ text: String) {
        characters = Array(text)
        cursor = characters.count
        completion = nil
    }

    /// Applies one key. `completions` is asked for candidates when the key is Tab: it gets the
    /// word before the cursor and whether that word starts the line.
    public mutating func apply(
        _ key: Key, completions: (_ word: String, _ atLineStart: Bool) -> [String] = { _, _ in [] }
    ) -> Outcome {
        if key != .tab { completion = nil }
        switch key {
        case .text(let character): return insert(character)
        case .enter: return submit()
        case .tab: return complete(completions)
        case .backspace, .ctrl("h"): return deleteBackward()
        case .delete: return deleteForward()
        case .left, .ctrl("b"): return move(to: cursor - 1)
        case .right, .ctrl("f"): return move(to: cursor + 1)
        case .home, .ctrl("a"): return move(to: 0)
        case .end, .ctrl("e"): return move(to: characters.count)
        case .wordLeft, .alt("b"): return move(to: wordStart(before: cursor))
        case .wordRight, .alt("f"): return move(to: wordEnd(after: cursor))
        case .up, .ctrl("p"): return browseHistory(by: -1)
        case .down, .ctrl("n"): return browseHistory(by: 1)
        case .ctrl("u"): return kill(0..<cursor)
        case .ctrl("k"): return kill(cursor..<characters.count)
        case .ctrl("w"), .altBackspace: return kill(wordStart(before: cursor)..<cursor)
        case .alt("d"): return kill(cursor..<wordEnd(after: cursor))
        case .ctrl("y"): return yank()
        case .ctrl("t"): return transpose()
        case .ctrl("d"):
            if characters.isEmpty { return .endOfInput }
            return deleteForward()
        case .ctrl("c"): return .interrupt
        case .ctrl("l"): return .redrawScreen
        case .ctrl("z"): return .suspend
        default: return .unchanged
        }
    }

    // MARK: Editing

    private mutating func insert(_ character: Character) -> Outcome {
        // A combining mark typed (or pasted) on its own joins the character before it, as it
        // does on screen: the cursor stays after that one grapheme.
        if cursor > 0, DisplayWidth.of(character) == 0 {
            let joined = String(characters[cursor - 1]) + String(character)
            if joined.count == 1 {
                characters[cursor - 1] = Character(joined)
                return .edited
            }
        }
        characters.insert(character, at: cursor)
        cursor += 1
        return .edited
    }

    private mutating func submit() -> Outcome {
        let line = text
        characters = []
        cursor = 0
        historyIndex = nil
        draft = []
        if !line.allSatisfy(\.isWhitespace), history.last != line, !Self.carriesPassword(line) {
            history.append(line)
            if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        }
        return .submit(line)
    }

    /// Whether `line` is a command with a password in it: never kept in the history, where the
    /// up arrow would show it to whoever sits down next.
    static func carriesPassword(_ line: String) -> Bool {
        let command = line.lowercased().split(separator: " ", maxSplits: 1).first ?? ""
        return ["/register", "/login", "/identify", "/password", "/unregister"].contains(String(command))
    }

    private mutating func deleteBackward() -> Outcome {
        guard cursor > 0 else { return .unchanged }
        characters.remove(at: cursor - 1)
        cursor -= 1
        return .edited
    }

    private mutating func deleteForward() -> Outcome {
        guard cursor < characters.count else { return .unchanged }
        characters.remove(at: cursor)
        return .edited
    }

    private mutating func move(to position: Int) -> Outcome {
        let clamped = min(max(position, 0), characters.count)
        guard clamped != cursor else { return .unchanged }
        cursor = clamped
        return .edited
    }

    private mutating func kill(_ range: Range<Int>) -> Outcome {
        guard !range.isEmpty else { return .unchanged }
        killed = Array(characters[range])
        characters.removeSubrange(range)
        cursor = range.lowerBound
        return .edited
    }

    private mutating func yank() -> Outcome {
        guard !killed.isEmpty else { return .unchanged }
        characters.insert(contentsOf: killed, at: cursor)
        cursor += killed.count
        return .edited
    }

    private mutating func transpose() -> Outcome {
        guard characters.count >= 2, cursor > 0 else { return .unchanged }
        let right = cursor == characters.count ? cursor - 1 : cursor
        characters.swapAt(right - 1, right)
        cursor = right + 1
        return .edited
    }

    /// Words are runs of non-space characters, as in readline's Ctrl-W.
    private func wordStart(before position: Int) -> Int {
        var index = position
        while index > 0 && characters[index - 1] == " " { index -= 1 }
        while index > 0 && characters[index - 1] != " " { index -= 1 }
        return index
    }

    private func wordEnd(after position: Int) -> Int {
        var index = position
        while index < characters.count && characters[index] == " " { index += 1 }
        while index < characters.count && characters[index] != " " { index += 1 }
        return index
    }

    // MARK: History

    private mutating func browseHistory(by step: Int) -> Outcome {
        guard !history.isEmpty else { return .unchanged }
        let current = historyIndex ?? history.count
        let target = min(max(current + step, 0), history.count)
        guard target != current else { return .unchanged }
        if historyIndex == nil { draft = characters }
        if target == history.count {
            historyIndex = nil
            characters = draft
        } else {
            historyIndex = target
            characters = Array(history[target])
        }
        cursor = characters.count
        return .edited
    }

    // MARK: Completion

    /// Tab replaces the word before the cursor with the first candidate that it starts
    /// (ignoring case); each further Tab cycles through the others, irssi-style.
    private mutating func complete(_ completions: (String, Bool) -> [String]) -> Outcome {
        if var state = completion {
            guard state.candidates.count > 1 else { return .unchanged }
            state.next = (state.next + 1) % state.candidates.count
            replaceWord(from: state.start, with: state.candidates[state.next] + state.suffix)
            completion = state
            return .edited
        }
        var start = cursor
        while start > 0 && characters[start - 1] != " " { start -= 1 }
        let word = String(characters[start..<cursor])
        let atLineStart = start == 0
        let candidates = completions(word, atLineStart)
        guard let first = candidates.first else { return .unchanged }
        let isNick = !word.hasPrefix("/") && !word.hasPrefix("#")
        let suffix = isNick && atLineStart ? ": " : " "
        replaceWord(from: start, with: first + suffix)
        completion = CompletionState(start: start, candidates: candidates, next: 0, suffix: suffix)
        return .edited
    }

    private mutating func replaceWord(from start: Int, with replacement: String) {
        characters.replaceSubrange(start..<cursor, with: Array(replacement))
        cursor = start + replacement.count
    }
}

/// Picks completion candidates: `/commands` at the start of a line, `#rooms`, or nicks.
public enum Completion {
    public static func candidates(for word: String, atLineStart: Bool, commands: [String], rooms: [String], nicks: [String]) -> [String] {
        let pool: [String]
        if word.hasPrefix("/") && atLineStart {
            pool = commands.map { "/" + $0 }
        } else if word.hasPrefix("#") {
            pool = rooms
        } else {
            pool = nicks
        }
        let folded = word.lowercased()
        var seen = Set<String>()
        return pool.filter { $0.lowercased().hasPrefix(folded) && seen.insert($0.lowercased()).inserted }
            .sorted { $0.lowercased() < $1.lowercased() }
    }
}
