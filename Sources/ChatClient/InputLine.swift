/// Draws the input line on the bottom row of the terminal: the prompt and as much of the text as
/// fits, scrolled sideways to keep the cursor in view. It never uses the last column (writing
/// there makes terminals wrap), so redrawing it never scrolls the screen or garbles the messages
/// above.
public struct InputLine: Sendable {
    /// The first character of the text that is shown (the line scrolls sideways).
    public private(set) var scroll = 0

    public init() {}

    /// What to write to draw the line (carriage return, prompt, text, erase to end of line, and
    /// the cursor put back in place), given the prompt, the editor's text and cursor, and the
    /// terminal's width in columns. `style` wraps the prompt (e.g. in bold).
    public mutating func render(
        prompt: String, characters: [Character], cursor: Int, width: Int, style: (String) -> String = { $0 }
    ) -> String {
        let usable = max(width - 1, 2)
        var promptText = prompt
        // A prompt wider than half the line is cut down so the text keeps room.
        while DisplayWidth.of(promptText) > usable / 2, !promptText.isEmpty { promptText.removeFirst() }
        let room = max(usable - DisplayWidth.of(promptText), 1)
        // Scroll so the cursor is visible, keeping a little context before it.
        if cursor < scroll { scroll = max(cursor - room / 3, 0) }
        while DisplayWidth.of(characters[scroll..<cursor]) >= room, scroll < cursor { scroll += 1 }
        if scroll > 0 && DisplayWidth.of(characters[0..<cursor]) < room { scroll = 0 }
        var shown = ""
        var used = 0
        var cursorColumn = DisplayWidth.of(promptText)
        for index in scroll..<characters.count {
            let w = DisplayWidth.of(characters[index])
            if used + w > room { break }
            if index < cursor { cursorColumn += w }
            shown.append(characters[index])
            used += w
        }
        var output = "\r" + style(promptText) + shown + "\u{1B}[K\r"
        if cursorColumn > 0 { output += "\u{1B}[\(cursorColumn)C" }
        return output
    }

    /// Erases the line (before printing a message above it).
    public static let erase = "\r\u{1B}[K"
}

extension DisplayWidth {
    static func of(_ characters: ArraySlice<Character>) -> Int {
        var total = 0
        for character in characters { total += of(character) }
        return total
    }
}
