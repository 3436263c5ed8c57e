/// Why a request was refused: the `code` of an `error` event (docs/PROTOCOL.md, "Errors"). Typed
/// in the core and rendered only at the edge (`rawValue` on the wire). A struct rather than an
/// enum so that a client reading a newer server's code it does not know still reads the event.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    /// Not JSON, not an object, a missing or unknown member, a member of the wrong type.
    public static let badRequest = ErrorCode(rawValue: "bad_request")
    /// An unknown `type`, or in text mode an unknown `/command`.
    public static let unknownCommand = ErrorCode(rawValue: "unknown_command")
    /// A text-mode command with missing or extra arguments.
    public static let usage = ErrorCode(rawValue: "usage")
    public static let notRegistered = ErrorCode(rawValue: "not_registered")
    public static let alreadyRegistered = ErrorCode(rawValue: "already_registered")
    public static let nickInvalid = ErrorCode(rawValue: "nick_invalid")
    public static let nickReserved = ErrorCode(rawValue: "nick_reserved")
    public static let nickInUse = ErrorCode(rawValue: "nick_in_use")
    public static let nickBanned = ErrorCode(rawValue: "nick_banned")
    public static let roomInvalid = ErrorCode(rawValue: "room_invalid")
    public static let noSuchRoom = ErrorCode(rawValue: "no_such_room")
    public static let notInRoom = ErrorCode(rawValue: "not_in_room")
    public static let noRoom = ErrorCode(rawValue: "no_room")
    public static let tooManyRooms = ErrorCode(rawValue: "too_many_rooms")
    public static let noSuchNick = ErrorCode(rawValue: "no_such_nick")
    public static let lineTooLong = ErrorCode(rawValue: "line_too_long")
    /// `history` while history is off or its store is failing.
    public static let historyUnavailable = ErrorCode(rawValue: "history_unavailable")
    /// A topic longer than `Command.maxTopicLength`.
    public static let topicTooLong = ErrorCode(rawValue: "topic_too_long")
    /// Something only a room's operators may do (kick, change modes, set a locked topic).
    public static let opNeeded = ErrorCode(rawValue: "op_needed")
    /// A kick or role change naming someone who is not in the room.
    public static let userNotInRoom = ErrorCode(rawValue: "user_not_in_room")
    /// An invitation for someone already in the room.
    public static let alreadyInRoom = ErrorCode(rawValue: "already_in_room")
    /// A mode letter chatd does not know (or `-n`, which it cannot unset).
    public static let unknownMode = ErrorCode(rawValue: "unknown_mode")
    /// Joining an invite-only room (`+i`) without an invitation.
    public static let inviteOnly = ErrorCode(rawValue: "invite_only")
    /// Joining a room with a key (`+k`) without it.
    public static let badKey = ErrorCode(rawValue: "bad_key")
    /// Talking in a moderated room (`+m`) without a role.
    public static let moderated = ErrorCode(rawValue: "moderated")
    /// A password too short or too long.
    public static let passwordInvalid = ErrorCode(rawValue: "password_invalid")
    /// `register` for a nick that is an account already.
    public static let accountExists = ErrorCode(rawValue: "account_exists")
    /// `login` to an account that does not exist.
    public static let noSuchAccount = ErrorCode(rawValue: "no_such_account")
    public static let wrongPassword = ErrorCode(rawValue: "wrong_password")
    /// Too many failed sign-ins for the account or from the address, for now.
    public static let tooManyAttempts = ErrorCode(rawValue: "too_many_attempts")
    /// `password` or `unregister` without being signed in.
    public static let notSignedIn = ErrorCode(rawValue: "not_signed_in")
    /// `register` while signed in.
    public static let alreadySignedIn = ErrorCode(rawValue: "already_signed_in")
    /// Talking without being signed in where `accounts.required` is on.
    public static let signInRequired = ErrorCode(rawValue: "sign_in_required")
    /// Accounts are off (history is), or their store failed.
    public static let accountsUnavailable = ErrorCode(rawValue: "accounts_unavailable")

    /// Every code this version sends, in the order docs/PROTOCOL.md lists them.
    public static let all: [ErrorCode] = [
        .badRequest, .unknownCommand, .usage, .notRegistered, .alreadyRegistered, .nickInvalid, .nickReserved, .nickInUse,
        .nickBanned, .roomInvalid, .noSuchRoom, .notInRoom, .noRoom, .tooManyRooms, .noSuchNick, .lineTooLong, .historyUnavailable,
        .topicTooLong, .opNeeded, .userNotInRoom, .alreadyInRoom, .unknownMode, .inviteOnly, .badKey, .moderated,
        .passwordInvalid, .accountExists, .noSuchAccount, .wrongPassword, .tooManyAttempts, .notSignedIn, .alreadySignedIn,
        .accountsUnavailable, .signInRequired,
    ]

    /// A refused nickname (`nick_…`).
    public var isNickRefusal: Bool { [.nickInvalid, .nickReserved, .nickInUse, .nickBanned].contains(self) }
}
