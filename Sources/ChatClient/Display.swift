import ChatCore

/// One line the client shows, before styling: what it is decides its colour.
public struct Display: Equatable, Sendable {
    public var time: Timestamp?
    public var kind: Kind

    public enum Kind: Equatable, Sendable {
        /// A message in a room; `room` is set when it is not the current room.
        case message(room: String?, from: String, text: String, own: Bool, mentioned: Bool)
        case action(room: String?, from: String, text: String, own: Bool, mentioned: Bool)
        case privateMessage(from: String, text: String)
        case ownPrivateMessage(to: String, text: String)
        /// Joins, parts, quits, nick changes, member and room lists: `*** …` lines.
        case status(String)
        case notice(String)
        case announcement(String)
        case error(String)
        /// What the client itself has to say (connecting, reconnecting, local errors).
        case client(String)
    }

    public init(time: Timestamp? = nil, _ kind: Kind) {
        self.time = time
        self.kind = kind
    }
}

/// Styles `Display` lines for a terminal: timestamps, a stable colour per nick, and a distinct
/// look for notices, private messages, actions, announcements and errors. Without colour, the
/// lines read exactly like chatd's text protocol (`<alice> hi`, `*** bob has joined #dev`).
public struct DisplayStyle: Sendable {
    public var color: Bool
    public var timestamps: Bool
    /// Seconds east of UTC, for the timestamps.
    public var utcOffsetSeconds: Int

    public init(color: Bool, timestamps: Bool, utcOffsetSeconds: Int = 0) {
        self.color = color
        self.timestamps = timestamps
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// The line as text, without a line ending.
    public func render(_ line: Display) -> String {
        segments(line).map { paint($0.text, $0.style) }.joined()
    }

    /// The line as terminal rows no wider than `width - 1` columns, wrapped at spaces where it
    /// can be, continuation rows indented past the timestamp so the text stands in one column.
    public func render(_ line: Display, width: Int) -> [String] {
        let limit = max(width - 1, 8)
        let indent = timestamps && line.time != nil && limit > 24 ? 6 : 0
        typealias Cell = (character: Character, style: String)
        var rows: [[Cell]] = [[]]
        var column = 0
        for segment in segments(line) {
            for character in segment.text {
                let w = DisplayWidth.of(character)
                if column + w > limit {
                    // Move the word being written to a new row, unless it fills the row alone.
                    var row = rows.removeLast()
                    var carried: [Cell] = []
                    if row.last?.character == " " {
                        while row.count > indent, row.last?.character == " " { row.removeLast() }
                    } else if let space = row.lastIndex(where: { $0.character == " " }), space >= indent {
                        carried = Array(row[(space + 1)...])
                        row.removeSubrange(space...)
                    }
                    rows.append(row)
                    rows.append(Array(repeating: (" ", ""), count: indent) + carried)
                    column = indent + carried.reduce(0) { $0 + DisplayWidth.of($1.character) }
                }
                if character == " " && column == indent && rows.count > 1 && rows[rows.count - 1].count == indent { continue }
                rows[rows.count - 1].append((character, segment.style))
                column += w
            }
        }
        return rows.map { row in
            var output = ""
            var index = row.startIndex
            while index < row.endIndex {
                let style = row[index].style
                var text = ""
                while index < row.endIndex && row[index].style == style {
                    text.append(row[index].character)
                    index += 1
                }
                output += paint(text, style)
            }
            return output
        }
    }

    /// The line's pieces, each with its SGR style ("" for none).
    private func segments(_ line: Display) -> [(text: String, style: String)] {
        var parts: [(text: String, style: String)] = []
        if timestamps, let time = line.time {
            let seconds = Int((time.milliseconds / 1000) % 86_400) + utcOffsetSeconds
            let ofDay = ((seconds % 86_400) + 86_400) % 86_400
            parts += [("\(pad(ofDay / 3600)):\(pad(ofDay / 60 % 60))", Self.grey), (" ", "")]
        }
        func room(_ room: String?) {
            if let room { parts += [("[\(room)]", Self.grey), (" ", "")] }
        }
        switch line.kind {
        case .message(let inRoom, let from, let text, let own, let mentioned):
            room(inRoom)
            parts += [("<", ""), (from, nickColor(from, own: own)), ("> ", ""), (text, mentioned ? Self.bold : "")]
        case .action(let inRoom, let from, let text, let own, let mentioned):
            room(inRoom)
            parts += [("* ", Self.magenta), (from, nickColor(from, own: own)), (" ", ""), (text, mentioned ? Self.bold : Self.italic)]
        case .privateMessage(let from, let text): parts += [("*\(from)*", Self.boldMagenta), (" " + text, "")]
        case .ownPrivateMessage(let to, let text): parts += [("-> *\(to)*", Self.magenta), (" " + text, "")]
        case .status(let text): parts.append((text, Self.grey))
        case .notice(let text): parts.append((text, Self.cyan))
        case .announcement(let text): parts.append((text, Self.boldYellow))
        case .error(let text): parts.append((text, Self.red))
        case .client(let text): parts.append(("-!- " + text, Self.grey))
        }
        return parts
    }

    /// The colour of a nick: the same for the same nick in every session (a hash of its
    /// lower-cased form), bold for your own.
    public func nickColor(_ nick: String, own: Bool) -> String {
        if own { return Self.bold }
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in nick.lowercased().utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Self.nickPalette[Int(hash % UInt32(Self.nickPalette.count))]
    }

    private func paint(_ text: String, _ sgr: String) -> String {
        color && !sgr.isEmpty ? "\u{1B}[\(sgr)m\(text)\u{1B}[0m" : text
    }

    private func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Twelve foreground colours readable on dark and light backgrounds alike.
    static let nickPalette = ["31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96"]
    static let bold = "1"
    static let italic = "3"
    static let grey = "90"
    static let red = "31"
    static let cyan = "36"
    static let magenta = "35"
    static let boldMagenta = "1;35"
    static let boldYellow = "1;33"
}
