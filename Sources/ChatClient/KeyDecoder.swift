/// A key the user pressed, decoded from the bytes a terminal in raw mode sends.
public enum Key: Equatable, Sendable {
    /// Text to insert: a printable character (a paste arrives as many of these).
    case text(Character)
    case enter, tab, backspace, delete
    case left, right, up, down, home, end
    case wordLeft, wordRight
    /// Ctrl plus a letter that has no key of its own above (`ctrl("a")` for Ctrl-A).
    case ctrl(Character)
    /// Alt (Meta) plus a character, sent as ESC then the character.
    case alt(Character)
    /// Alt-Backspace.
    case altBackspace
    /// A key the editor does not use (function keys, Page Up, a lone Escape...).
    case ignored
}

/// Turns terminal input bytes into keys: UTF-8 text, control characters, and the escape
/// sequences of xterm-compatible terminals (CSI and SS3 forms, with modifiers).
///
/// Input arrives in arbitrary pieces, so an incomplete UTF-8 sequence or escape sequence is kept
/// for the next `decode`. A lone ESC cannot be told from the start of a sequence until more input
/// comes or some time passes: the caller calls `flush()` after a short quiet period.
public struct KeyDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// True while bytes wait for the rest of a sequence; the caller then calls `flush()` if no
    /// input follows within a few tens of milliseconds.
    public var hasPending: Bool { !pending.isEmpty }

    public mutating func decode(_ bytes: some Sequence<UInt8>) -> [Key] {
        pending.append(contentsOf: bytes)
        var keys: [Key] = []
        var index = 0
        while index < pending.count {
            guard let (key, length) = Self.key(at: index, in: pending) else { break }
            if let key { keys.append(key) }
            index += length
        }
        pending.removeFirst(index)
        return keys
    }

    /// Gives up waiting: what is pending is a lone Escape (or Alt-ESC) or a truncated sequence.
    public mutating func flush() -> [Key] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [.ignored]
    }

    /// The key at `index` and how many bytes it used; nil when more bytes are needed. A nil key
    /// with a length consumes bytes that make no key (e.g. the LF of a CRLF pair).
    private static func key(at index: Int, in bytes: [UInt8]) -> (Key?, Int)? {
        let byte = bytes[index]
        switch byte {
        case 0x0D, 0x0A: return (.enter, 1)
        case 0x09: return (.tab, 1)
        case 0x7F, 0x08: return (.backspace, 1)
        case 0x1B: return escape(at: index, in: bytes)
        case 0x00..<0x20: return (.ctrl(Character(Unicode.Scalar(byte + 0x60))), 1)
        case 0x20..<0x80: return (.text(Character(Unicode.Scalar(byte))), 1)
        default: return utf8(at: index, in: bytes)
        }
    }

    private static func utf8(at index: Int, in bytes: [UInt8]) -> (Key?, Int)? {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return (.ignored, 1)  // a stray continuation byte or an invalid lead byte
        }
        var end = index + 1
        while end < bytes.count && end < index + length && (bytes[end] & 0xC0) == 0x80 { end += 1 }
        if end < index + length {
            // Incomplete: wait for more, unless a non-continuation byte already broke it.
            return end < bytes.count ? (.ignored, end - index) : nil
        }
        let decoded = String(decoding: bytes[index..<end], as: UTF8.self)
        guard let scalar = decoded.unicodeScalars.first, scalar.value != 0xFFFD, decoded.unicodeScalars.count == 1 else {
            return (.ignored, length)
        }
        if (0x80...0x9F).contains(scalar.value) { return (.ignored, length) }  // C1 controls
        return (.text(Character(scalar)), length)
    }

    private static func escape(at index: Int, in bytes: [UInt8]) -> (Key?, Int)? {
        guard index + 1 < bytes.count else { return nil }
        let next = bytes[index + 1]
        switch next {
        case UInt8(ascii: "["): return controlSequence(at: index, in: bytes)
        case UInt8(ascii: "O"):
            guard index + 2 < bytes.count else { return nil }
            return (finalKey(bytes[index + 2], modifier: 1), 3)
        case 0x7F, 0x08: return (.altBackspace, 2)
        case 0x1B: return (.ignored, 1)  // ESC ESC: the first is a lone Escape
        case 0x20..<0x7F: return (.alt(Character(Unicode.Scalar(next))), 2)
        default: return (.ignored, 1)
        }
    }

    /// CSI: ESC [ parameters (0x30-0x3F) intermediates (0x20-0x2F) final (0x40-0x7E).
    private static func controlSequence(at index: Int, in bytes: [UInt8]) -> (Key?, Int)? {
        var end = index + 2
        while end < bytes.count, (0x20...0x3F).contains(bytes[end]) {
            end += 1
            if end - index > 32 { return (.ignored, end - index) }  // absurdly long: drop it
        }
        guard end < bytes.count else { return nil }
        let final = bytes[end]
        let length = end - index + 1
        guard (0x40...0x7E).contains(final) else { return (.ignored, length) }
        let parameters = String(decoding: bytes[(index + 2)..<end], as: UTF8.self)
            .split(separator: ";", omittingEmptySubsequences: false)
            .map { Int($0) }
        let modifier = parameters.count > 1 ? (parameters[1] ?? 1) : 1
        if final == UInt8(ascii: "~") {
            switch parameters.first ?? nil {
            case 1, 7: return (.home, length)
            case 4, 8: return (.end, length)
            case 3: return (.delete, length)
            default: return (.ignored, length)
            }
        }
        return (finalKey(final, modifier: modifier), length)
    }

    /// The arrows, Home and End, in CSI or SS3 form; Ctrl or Alt with Left/Right moves by word.
    private static func finalKey(_ final: UInt8, modifier: Int) -> Key {
        let word = modifier == 3 || modifier == 5  // Alt, Ctrl
        switch final {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return word ? .wordRight : .right
        case UInt8(ascii: "D"): return word ? .wordLeft : .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        default: return .ignored
        }
    }
}
