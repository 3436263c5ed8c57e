/// A nickname that passed the rules: what it looks like, and the keys that decide uniqueness.
///
/// Two nicknames are the same person's if they share a key. `key` is the UTS #39 confusable
/// skeleton of the nick under NFKC case folding, so `Alice`, `ＡＬＩＣＥ` (full-width), `Аlice`
/// (Cyrillic А) and `aǀice` (U+01C0) are one nick. Case folding first hides one classic spoof,
/// a capital I for an l (`aIice`), so `shapeKey` takes the skeleton before folding too (and
/// counts the Cyrillic palochka of `аӏісе` as the stroke it looks like). A nick may not mix
/// scripts (Latin with Cyrillic, say), hold invisible characters or blank-looking letters, or
/// stack more than two combining marks on a letter.
public struct Nickname: Hashable, Sendable, CustomStringConvertible {
    /// As the user typed it (after sanitizing): what everyone sees.
    public let display: String
    /// The folded skeleton that decides uniqueness.
    public let key: String
    /// The skeleton of the nick as it looks before case folding (`aIice` → `alice`); usually
    /// `key`. A nick is taken if either of its keys is either key of another's.
    public let shapeKey: String

    /// Both keys, without repeats.
    public var keys: [String] { key == shapeKey ? [key] : [key, shapeKey] }

    public var description: String { display }

    public static func == (lhs: Nickname, rhs: Nickname) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }

    /// The punctuation a nickname may contain besides letters and digits (IRC's set).
    public static let punctuation: Set<Unicode.Scalar> = ["_", "-", "[", "]", "{", "}", "\\", "|", "^", "`"]
    /// Names reserved for the server so nobody can pose as it.
    public static let reserved: Set<String> = ["server", "chatd", "system", "admin", "operator", "root"]

    /// Validates `raw` against the nick rules.
    public static func validate(_ raw: String, maxLength: Int) -> Result<Nickname, NickError> {
        let display = Sanitizer.cleanArgument(raw)
        if display.isEmpty { return .failure(.empty) }
        if display.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            return .failure(.containsSpace)
        }
        let normalized = ICU.nfkc(display)
        if normalized.count > maxLength { return .failure(.tooLong(max: maxLength)) }
        if let first = normalized.unicodeScalars.first {
            if first.properties.numericType == .decimal || first == "-" { return .failure(.badFirstCharacter(Character(first))) }
            if Names.isMark(first) { return .failure(.invalidCharacter(Character(first))) }
        }
        switch Names.check(normalized, punctuation: punctuation) {
        case .invalid(let c): return .failure(.invalidCharacter(c))
        case .mixedScripts: return .failure(.mixedScripts)
        case .tooManyMarks: return .failure(.tooManyMarks)
        case .valid: break
        }
        if display.utf8.count > Names.maxBytes(forLength: maxLength) { return .failure(.tooLong(max: maxLength)) }
        let nick = Nickname(display: display, key: Names.key(normalized), shapeKey: Names.shapeKey(normalized))
        if nick.keys.contains(where: reservedKeys.contains) { return .failure(.reserved) }
        return .success(nick)
    }

    /// The reserved names' keys (both kinds).
    static let reservedKeys: Set<String> = Set(reserved.flatMap { [Names.key($0), Names.shapeKey($0)] })
}

/// Why a nickname was refused. `description` is the sentence shown to the user.
public enum NickError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case containsSpace
    case tooLong(max: Int)
    case badFirstCharacter(Character)
    case invalidCharacter(Character)
    case mixedScripts
    case tooManyMarks
    case reserved
    case inUse(String)
    case banned(reason: String?)

    public var description: String {
        switch self {
        case .empty: "A nickname cannot be empty."
        case .containsSpace: "A nickname cannot contain spaces."
        case .tooLong(let max): "That nickname is too long: at most \(max) characters."
        case .badFirstCharacter(let c): "A nickname cannot start with '\(c)': start with a letter."
        case .invalidCharacter(let c):
            "A nickname cannot contain '\(Names.visible(c))': use letters, digits and _-[]{}\\|^`."
        case .mixedScripts: "A nickname cannot mix alphabets (e.g. Latin and Cyrillic letters)."
        case .tooManyMarks: "A nickname cannot stack more than \(Names.maxMarks) accents on one letter."
        case .reserved: "That nickname is reserved for the server."
        case .inUse(let holder): "The nickname \(holder) is already in use."
        case .banned(let reason): "That nickname is banned" + (reason.map { ": \($0)" } ?? ".")
        }
    }

    /// The machine-readable code used in JSON error events.
    public var code: ErrorCode {
        switch self {
        case .inUse: .nickInUse
        case .reserved: .nickReserved
        case .banned: .nickBanned
        default: .nickInvalid
        }
    }
}

/// A room name: `#` then letters, digits, `-`, `_` or `.`; unique under the same folding as nicks.
public struct RoomName: Hashable, Sendable, CustomStringConvertible {
    public let display: String
    public let key: String

    public var description: String { display }

    public static func == (lhs: RoomName, rhs: RoomName) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }

    /// Validates `raw`; a missing leading `#` is added (`/join lobby` joins `#lobby`).
    public static func validate(_ raw: String, maxLength: Int) -> Result<RoomName, RoomError> {
        var name = Sanitizer.cleanArgument(raw)
        if name.hasPrefix("#") { name.removeFirst() }
        if name.isEmpty { return .failure(.empty) }
        let normalized = ICU.nfkc(name)
        if normalized.count > maxLength { return .failure(.tooLong(max: maxLength)) }
        switch Names.check(normalized, punctuation: ["-", "_", "."]) {
        case .invalid(let c): return .failure(.invalidCharacter(c))
        case .mixedScripts: return .failure(.mixedScripts)
        case .tooManyMarks: return .failure(.tooManyMarks)
        case .valid: break
        }
        if name.utf8.count > Names.maxBytes(forLength: maxLength) { return .failure(.tooLong(max: maxLength)) }
        return .success(RoomName(display: "#" + name, key: "#" + Names.key(normalized)))
    }
}

/// Why a room name was refused.
public enum RoomError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(max: Int)
    case invalidCharacter(Character)
    case mixedScripts
    case tooManyMarks

    public var description: String {
        switch self {
        case .empty: "A room name cannot be empty: try /join #name."
        case .tooLong(let max): "That room name is too long: at most \(max) characters after the #."
        case .invalidCharacter(let c):
            "A room name cannot contain '\(Names.visible(c))': use letters, digits, '-', '_' and '.'."
        case .mixedScripts: "A room name cannot mix alphabets."
        case .tooManyMarks: "A room name cannot stack more than \(Names.maxMarks) accents on one letter."
        }
    }
}

/// The scripts whose letters are confused with each other; letters of other scripts are free
/// to combine with these only through `Common`/`Inherited` characters such as digits.
enum Script: Equatable {
    case latin, greek, cyrillic, other(UInt32)

    init?(_ scalar: Unicode.Scalar) {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A, 0xC0...0x24F, 0x1E00...0x1EFF, 0xFF21...0xFF3A, 0xFF41...0xFF5A:
            self = .latin
        case 0x370...0x3FF, 0x1F00...0x1FFF: self = .greek
        case 0x400...0x52F, 0x1C80...0x1C8F, 0x2DE0...0x2DFF, 0xA640...0xA69F: self = .cyrillic
        case 0x3040...0x30FF, 0x4E00...0x9FFF, 0x3400...0x4DBF, 0xAC00...0xD7AF: return nil  // CJK mixes freely
        default: self = .other(scalar.value >> 7)  // a coarse block stands in for the script
        }
    }
}

enum Names {
    enum Check {
        case valid
        case invalid(Character)
        case mixedScripts
        case tooManyMarks
    }

    /// Combining marks one letter may carry (Vietnamese needs two on a few letters even
    /// composed); more is "Zalgo" text, drawn over the lines around it.
    static let maxMarks = 2

    /// The most UTF-8 bytes a name of `length` characters may take: four a character, which
    /// any letter of any script fits, so only stacked marks and the like reach it.
    static func maxBytes(forLength length: Int) -> Int { length * 4 }

    /// Letters that render as nothing at all: Hangul fillers and the Braille blank. (Most are
    /// default-ignorable too; the Braille blank is not.)
    static let blankLetters: Set<Unicode.Scalar> = ["\u{115F}", "\u{1160}", "\u{3164}", "\u{FFA0}", "\u{2800}"]

    /// The rule nicks and room names share: letters (of one alphabet), digits, combining marks
    /// (at most `maxMarks` on a letter, counted decomposed) and the given punctuation; nothing
    /// invisible.
    static func check(_ normalized: String, punctuation: Set<Unicode.Scalar>) -> Check {
        var marks = 0
        for scalar in ICU.nfd(normalized).unicodeScalars {
            marks = isMark(scalar) ? marks + 1 : 0
            if marks > maxMarks { return .tooManyMarks }
        }
        var script: Script?
        for scalar in normalized.unicodeScalars {
            let properties = scalar.properties
            // Default-ignorable code points (joiners, U+034F, fillers) and variation selectors
            // draw nothing: `alice` with one appended would look exactly like `alice`.
            if properties.isDefaultIgnorableCodePoint || properties.isVariationSelector || blankLetters.contains(scalar) {
                return .invalid(Character(scalar))
            }
            let isLetter = properties.isAlphabetic && properties.numericType == nil
            let isDigit = properties.numericType == .decimal
            guard isLetter || isDigit || isMark(scalar) || punctuation.contains(scalar) else { return .invalid(Character(scalar)) }
            if isLetter, let letterScript = Script(scalar) {
                if let script, script != letterScript { return .mixedScripts }
                script = letterScript
            }
        }
        return .valid
    }

    /// A combining mark: drawn on the letter before it.
    static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: false
        }
    }

    /// The key that decides whether two names are the same: the UTS #39 skeleton of the name
    /// under NFKC case folding (`Аlice` with a Cyrillic А, `ＡＬＩＣＥ` → `alice`).
    static func key(_ normalized: String) -> String {
        ICU.skeleton(ICU.nfkcCasefold(normalized))
    }

    /// The key of the name as it looks before case folding: a capital I is an l (`aIice` →
    /// `alice`), which folding alone would make an i. The Cyrillic palochka, a full-height
    /// stroke drawn like I and l, is one too here: Unicode's confusables data (as of 15) makes
    /// it an i, so all-Cyrillic `аӏісе` would otherwise pass for `alice`.
    static func shapeKey(_ normalized: String) -> String {
        var strokes = String.UnicodeScalarView()
        for scalar in normalized.unicodeScalars { strokes.append(scalar == "\u{4CF}" || scalar == "\u{4C0}" ? "l" : scalar) }
        return key(ICU.skeleton(String(strokes)))
    }

    /// A character as shown inside an error message: controls, marks and invisible characters
    /// by code point.
    static func visible(_ c: Character) -> String {
        guard let scalar = c.unicodeScalars.first else { return "" }
        let properties = scalar.properties
        if properties.isWhitespace || properties.generalCategory == .format || properties.generalCategory == .control
            || properties.isDefaultIgnorableCodePoint || properties.isVariationSelector || blankLetters.contains(scalar)
            || isMark(scalar)
        {
            return "U+" + String(scalar.value, radix: 16, uppercase: true)
        }
        return String(c)
    }
}
