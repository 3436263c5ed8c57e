import Foundation  // NFKC normalization only (precomposedStringWithCompatibilityMapping)

/// A nickname that passed the rules: what it looks like, and the key that decides uniqueness.
///
/// Two nicknames are the same person's if their keys are equal. The key is the nick under NFKC
/// normalization, full Unicode lower-casing, and a fold of the Cyrillic and Greek letters that
/// render like Latin ones, so `Alice`, `ＡＬＩＣＥ` (full-width) and `Аlice` (Cyrillic А) are
/// one nick. A nick may not mix scripts (Latin with Cyrillic, say), which is how most look-alike
/// spoofs are built.
public struct Nickname: Hashable, Sendable, CustomStringConvertible {
    /// As the user typed it (after sanitizing): what everyone sees.
    public let display: String
    /// The folded form that decides uniqueness.
    public let key: String

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
        let normalized = display.precomposedStringWithCompatibilityMapping
        if normalized.count > maxLength { return .failure(.tooLong(max: maxLength)) }
        if let first = normalized.unicodeScalars.first {
            let category = first.properties.generalCategory
            if first.properties.numericType == .decimal || first == "-" { return .failure(.badFirstCharacter(Character(first))) }
            if category == .nonspacingMark || category == .spacingMark { return .failure(.invalidCharacter(Character(first))) }
        }
        switch Names.check(normalized, punctuation: punctuation) {
        case .invalid(let c): return .failure(.invalidCharacter(c))
        case .mixedScripts: return .failure(.mixedScripts)
        case .valid: break
        }
        let key = Names.fold(normalized)
        if reserved.contains(key) { return .failure(.reserved) }
        return .success(Nickname(display: display, key: key))
    }
}

/// Why a nickname was refused. `description` is the sentence shown to the user.
public enum NickError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case containsSpace
    case tooLong(max: Int)
    case badFirstCharacter(Character)
    case invalidCharacter(Character)
    case mixedScripts
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
        case .reserved: "That nickname is reserved for the server."
        case .inUse(let holder): "The nickname \(holder) is already in use."
        case .banned(let reason): "That nickname is banned" + (reason.map { ": \($0)" } ?? ".")
        }
    }

    /// The machine-readable code used in JSON error events.
    public var code: String {
        switch self {
        case .inUse: "nick_in_use"
        case .reserved: "nick_reserved"
        case .banned: "nick_banned"
        default: "nick_invalid"
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
        let normalized = name.precomposedStringWithCompatibilityMapping
        if normalized.count > maxLength { return .failure(.tooLong(max: maxLength)) }
        switch Names.check(normalized, punctuation: ["-", "_", "."]) {
        case .invalid(let c): return .failure(.invalidCharacter(c))
        case .mixedScripts: return .failure(.mixedScripts)
        case .valid: break
        }
        return .success(RoomName(display: "#" + name, key: "#" + Names.fold(normalized)))
    }
}

/// Why a room name was refused.
public enum RoomError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(max: Int)
    case invalidCharacter(Character)
    case mixedScripts

    public var description: String {
        switch self {
        case .empty: "A room name cannot be empty: try /join #name."
        case .tooLong(let max): "That room name is too long: at most \(max) characters after the #."
        case .invalidCharacter(let c):
            "A room name cannot contain '\(Names.visible(c))': use letters, digits, '-', '_' and '.'."
        case .mixedScripts: "A room name cannot mix alphabets."
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
    }

    /// The rule nicks and room names share: letters (of one alphabet), digits, combining marks
    /// and the given punctuation.
    static func check(_ normalized: String, punctuation: Set<Unicode.Scalar>) -> Check {
        var script: Script?
        for scalar in normalized.unicodeScalars {
            let properties = scalar.properties
            let isLetter = properties.isAlphabetic && properties.numericType == nil
            let isDigit = properties.numericType == .decimal
            let isMark = properties.generalCategory == .nonspacingMark || properties.generalCategory == .spacingMark
            guard isLetter || isDigit || isMark || punctuation.contains(scalar) else { return .invalid(Character(scalar)) }
            if isLetter, let letterScript = Script(scalar) {
                if let script, script != letterScript { return .mixedScripts }
                script = letterScript
            }
        }
        return .valid
    }

    /// NFKC-normalized input → lower-cased, re-normalized, with Latin look-alikes folded to Latin.
    static func fold(_ normalized: String) -> String {
        let lowered = normalized.lowercased().precomposedStringWithCompatibilityMapping
        var folded = String.UnicodeScalarView()
        for scalar in lowered.unicodeScalars {
            folded.append(lookAlikes[scalar] ?? scalar)
        }
        return String(folded)
    }

    /// Lower-case Cyrillic and Greek letters that render like a Latin letter in common fonts.
    static let lookAlikes: [Unicode.Scalar: Unicode.Scalar] = [
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "ο": "o", "α": "a", "ν": "v", "ρ": "p", "τ": "t", "κ": "k", "ι": "i", "υ": "u", "χ": "x",
        "ϲ": "c", "ϳ": "j",
    ]

    /// A character as shown inside an error message: controls and invisible characters by code point.
    static func visible(_ c: Character) -> String {
        guard let scalar = c.unicodeScalars.first else { return "" }
        if scalar.properties.isWhitespace || scalar.properties.generalCategory == .format
            || scalar.properties.generalCategory == .control
        {
            return "U+" + String(scalar.value, radix: 16, uppercase: true)
        }
        return String(c)
    }
}
