/// What a member may do in a room beyond talking: an operator (`@`) kicks, invites, sets the
/// topic of a locked room and changes the room's modes and roles; a voiced member (`+`) may
/// talk in a moderated room. A member may be both. Roles last as long as the membership
/// (lasting roles come with accounts).
public struct RoomRole: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let op = RoomRole(rawValue: 1)
    public static let voice = RoomRole(rawValue: 2)

    /// `@` and `+`, the highest first (IRC's `PREFIX=(ov)@+`); all of them, or the highest.
    public func prefix(all: Bool = false) -> String {
        let marks = (contains(.op) ? "@" : "") + (contains(.voice) ? "+" : "")
        return all ? marks : String(marks.prefix(1))
    }

    /// `op`, `voice`: what the JSON `who` event lists for a member.
    public var names: [String] {
        (contains(.op) ? ["op"] : []) + (contains(.voice) ? ["voice"] : [])
    }

    /// The role a mode letter grants (`o`, `v`).
    init?(letter: Character) {
        switch letter {
        case "o": self = .op
        case "v": self = .voice
        default: return nil
        }
    }
}

/// A room's settings, each a mode letter as IRC has it: `t` (only operators set the topic),
/// `m` (moderated: only operators and voiced members talk), `i` (invite-only), `n` (no
/// messages from outside: always on, since chatd never relays a non-member's line to a room).
/// The key (`k`) is kept beside them (`Directory.Room.key`).
public struct RoomModes: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let inviteOnly = RoomModes(rawValue: 1)
    public static let moderated = RoomModes(rawValue: 2)
    public static let noOutsideMessages = RoomModes(rawValue: 4)
    public static let topicLocked = RoomModes(rawValue: 8)

    /// The modes of a room someone creates by joining it (its creator is its operator).
    public static let created: RoomModes = [.noOutsideMessages, .topicLocked]
    /// The modes of the default room, which has no operator of its own: everyone may set its topic.
    public static let defaultRoom: RoomModes = [.noOutsideMessages]

    /// Letter by letter, in IRC's alphabetical order.
    static let letters: [(Character, RoomModes)] = [("i", .inviteOnly), ("m", .moderated), ("n", .noOutsideMessages), ("t", .topicLocked)]

    init?(letter: Character) {
        guard let mode = Self.letters.first(where: { $0.0 == letter })?.1 else { return nil }
        self = mode
    }

    /// `+imnt`-style: the letters set (without the key).
    public var description: String { "+" + String(Self.letters.filter { contains($0.1) }.map(\.0)) }
}

/// One change to a room's modes or to a member's role, as a `/mode` request names it and as
/// the room is told of it: `+o bob`, `-t`, `+k secret`.
public struct RoomModeChange: Equatable, Sendable {
    public var adding: Bool
    /// The mode letter: `o`, `v`, `k`, `i`, `m`, `n` or `t`.
    public var letter: Character
    /// The nick of `o` and `v`, the key of `+k`; nil otherwise.
    public var argument: String?

    public init(adding: Bool, letter: Character, argument: String? = nil) {
        self.adding = adding
        self.letter = letter
        self.argument = argument
    }

    /// Every letter chatd knows, in the order ISUPPORT's `CHANMODES` and `PREFIX` name them.
    public static let known: Set<Character> = ["o", "v", "k", "i", "m", "n", "t"]

    /// The most changes that take an argument in one request (ISUPPORT's `MODES`).
    public static let maxWithArgument = 4

    /// Whether the letter takes an argument when `adding` (`o`, `v` both ways; `k` when set).
    static func takesArgument(_ letter: Character, adding: Bool) -> Bool {
        letter == "o" || letter == "v" || (letter == "k" && adding)
    }

    /// Reads `+o-v bob carol`-style changes: the letters of `modes` in order, each with its
    /// argument from `arguments` where it takes one. A letter chatd does not know, or one whose
    /// argument is missing, stops the reading with that letter (the changes before it are kept).
    public static func parse(
        _ modes: String, _ arguments: [String]
    ) -> (changes: [RoomModeChange], unknown: Character?, missing: Character?) {
        var adding = true
        var changes: [RoomModeChange] = []
        var rest = arguments[...]
        for letter in modes {
            switch letter {
            case "+": adding = true
            case "-": adding = false
            default:
                guard known.contains(letter) else { return (changes, letter, nil) }
                var argument: String?
                if takesArgument(letter, adding: adding) {
                    guard let next = rest.popFirst(), !next.isEmpty else { return (changes, nil, letter) }
                    argument = next
                } else if letter == "k", !adding {
                    _ = rest.popFirst()  // `-k key`: IRC clients send the key; it is not needed
                }
                changes.append(RoomModeChange(adding: adding, letter: letter, argument: argument))
            }
        }
        return (changes, nil, nil)
    }

    /// `+o-v bob carol`: the changes in IRC's form, the letters then the arguments.
    public static func describe(_ changes: [RoomModeChange]) -> String {
        var letters = ""
        var sign: Bool?
        for change in changes {
            if sign != change.adding {
                letters += change.adding ? "+" : "-"
                sign = change.adding
            }
            letters.append(change.letter)
        }
        return ([letters] + changes.compactMap(\.argument)).joined(separator: " ")
    }
}
