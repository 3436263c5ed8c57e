/// A way of speaking chatd's protocol on the wire: how a client's lines become requests, and how
/// events become lines for it. Text (telnet, nc), JSON (programs, the web page) and IRC (IRC
/// clients, on their own listener); each is one type, listed once in `Dialects.all`. The server never switches on a
/// dialect: it asks the connection's dialect to read and to render, and the fan-out renders each
/// event once per dialect and view present among a loop's recipients.
///
/// To add one: a type conforming to `Dialect`, an id in `DialectID`, and its entry in
/// `Dialects.all` (docs/ARCHITECTURE.md, "Adding a dialect").
public protocol Dialect: Sendable {
    /// The client kind a connection speaking it is shown as, unless its program names itself.
    var clientKind: ClientKind { get }

    /// Whether a person types it: a paste held back by the flood bucket is told of. (Programs
    /// pace themselves by the answers to their requests.)
    var isInteractive: Bool { get }

    /// Whether a member sees its own room messages come back (JSON: as the answer to its
    /// request; text: no, its terminal already shows what it typed).
    var echoesOwnMessages: Bool { get }

    /// Whether `line`, the first a line-listener connection sends, is in this dialect (it then
    /// speaks it for the rest of the connection). The line listener's own dialect is the default.
    func claims(firstLine line: [UInt8]) -> Bool

    /// What one framed line (its terminator removed, not yet sanitized) asks for.
    func read(_ line: [UInt8], registered: Bool) -> Reading

    /// The same, for a dialect that keeps state between lines (IRC's registration): `state`
    /// is the connection's. Dialects without state read as `read(_:registered:)`.
    func read(_ line: [UInt8], registered: Bool, state: inout DialectState) -> Reading

    /// `event` as `view` sees it: whole lines, terminators included.
    func render(_ event: Event, _ view: View) -> [UInt8]

    /// What a connection in `state` sees beyond the plain form (`View.extensions`), and whether
    /// its own room messages come back to it: IRC's negotiated capabilities. Others: none, and
    /// `echoesOwnMessages`.
    func viewExtensions(_ state: DialectState) -> UInt8
    func echoesOwnMessages(_ state: DialectState) -> Bool

    /// Whether answers name their recipient (IRC's numerics begin with the client's nick): they
    /// are then rendered for each recipient with `render(_:_:to:)`, not shared.
    var addressesRecipient: Bool { get }

    /// `event` as `view` sees it, for the client called `recipient` (nil before it has a nick).
    func render(_ event: Event, _ view: View, to recipient: String?) -> [UInt8]

    /// The view this dialect renders the same as `view`, so that a fan-out renders each
    /// distinct line once (JSON, for one, has no `[#room]` prefix, so where the reader's current
    /// room is makes no difference).
    func canonical(_ view: View) -> View

    /// The last line for a connection refused at connect (`bye`, its reason the refusal's message).
    func renderRefusal(_ bye: Event) -> [UInt8]
}

extension Dialect {
    public func claims(firstLine line: [UInt8]) -> Bool { false }

    public func read(_ line: [UInt8], registered: Bool, state: inout DialectState) -> Reading {
        read(line, registered: registered)
    }

    public var addressesRecipient: Bool { false }

    public func viewExtensions(_ state: DialectState) -> UInt8 { 0 }

    public func echoesOwnMessages(_ state: DialectState) -> Bool { echoesOwnMessages }

    public func render(_ event: Event, _ view: View, to recipient: String?) -> [UInt8] { render(event, view) }

    public func renderRefusal(_ bye: Event) -> [UInt8] { render(bye, View(isAnswer: true)) }
}

/// Which dialect a connection speaks: a small index into `Dialects.all`, cheap to keep per
/// connection and to key caches by.
public struct DialectID: Hashable, Sendable, CustomStringConvertible {
    public let index: UInt8

    init(_ index: UInt8) { self.index = index }

    public static let text = DialectID(0)
    public static let json = DialectID(1)
    public static let irc = DialectID(2)

    /// The dialect itself.
    public var dialect: any Dialect { Dialects.all[Int(index)] }

    public var description: String {
        switch self {
        case .text: "text"
        case .json: "json"
        case .irc: "irc"
        default: "dialect \(index)"
        }
    }
}

/// The dialects, in `DialectID` order: the one place each is registered.
public enum Dialects {
    public static let all: [any Dialect] = [TextDialect(), JSONDialect(), IRCDialect()]

    /// The dialect `line`, a connection's first, claims, if one does.
    public static func claiming(firstLine line: [UInt8]) -> DialectID? {
        all.indices.first { all[$0].claims(firstLine: line) }.map { DialectID(UInt8($0)) }
    }
}

/// How one recipient sees an event; a dialect may render it differently for each.
public struct View: Hashable, Sendable {
    /// The recipient's current room is the event's room (text shows other rooms' lines with a
    /// `[#room]` prefix).
    public var inCurrentRoom: Bool
    /// The recipient asked for it: the request's id (`re`) is included where the dialect has one.
    public var isAnswer: Bool
    /// The sender's own copy of its private message (text: `-> *bob* text`).
    public var isEcho: Bool
    /// What the recipient's dialect asked to see beyond the plain form (IRC's capabilities:
    /// `server-time`, `message-tags`, …): at most 8 bits, the dialect's own.
    public var extensions: UInt8

    public init(inCurrentRoom: Bool = true, isAnswer: Bool = false, isEcho: Bool = false, extensions: UInt8 = 0) {
        self.inCurrentRoom = inCurrentRoom
        self.isAnswer = isAnswer
        self.isEcho = isEcho
        self.extensions = extensions
    }

    /// A small number for each view (for caches keyed by dialect and view).
    public var bits: UInt16 { (inCurrentRoom ? 1 : 0) | (isAnswer ? 2 : 0) | (isEcho ? 4 : 0) | UInt16(extensions) << 3 }
}

/// What a line asks for, in any dialect.
public enum Reading: Equatable, Sendable {
    /// Nothing (a blank line).
    case nothing
    /// A JSON `hello`: the program's name, and perhaps the nick it wants.
    case hello(nick: String?, client: String?, re: RequestID?)
    case command(Command, re: RequestID?)
    /// Credentials to check before registration (IRC's SASL PLAIN): the answer comes back
    /// through `Session.authenticated(_:)`.
    case authenticate(account: String, password: Password)
    /// A request that cannot be carried out as sent.
    case invalid(CommandError, re: RequestID?)
    /// An answer the dialect gives by itself (IRC's `CAP LS`), touching no shared state.
    case reply(Event.Kind, re: RequestID?)
    /// Several requests in one line (IRC's `JOIN #a,#b`), in order.
    case several([Reading])
}

/// What a dialect keeps of a connection between its lines: nothing for text and JSON, IRC's
/// registration for IRC. Boxed, so a connection that keeps nothing pays a word.
public enum DialectState: Equatable, Sendable {
    case none
    indirect case irc(IRCState)
}

/// The text protocol: human-readable lines for telnet and nc (docs/PROTOCOL.md, "Text mode").
public struct TextDialect: Dialect {
    public init() {}

    public var clientKind: ClientKind { .line }
    public var isInteractive: Bool { true }
    public var echoesOwnMessages: Bool { false }

    public func read(_ line: [UInt8], registered: Bool) -> Reading {
        let text = Sanitizer.clean(line)
        // Until a nick is granted, a plain line is the nick wanted.
        if !registered && !text.hasPrefix("/") { return .command(.nick(text), re: nil) }
        switch Command.parse(line: text) {
        case nil: return .nothing
        case .failure(let error): return .invalid(error, re: nil)
        case .success(let command): return .command(command, re: nil)
        }
    }

    public func render(_ event: Event, _ view: View) -> [UInt8] {
        if view.isEcho, case .privateMessage(_, let to, let text) = event.kind {
            return Array(TextFormat.ownPrivateMessage(to: to, text: text).utf8)
        }
        if view.isEcho, case .userNotice(_, let to, let text) = event.kind {
            return Array("-> -\(to)- \(text)\r\n".utf8)
        }
        if view.isEcho, case .invite(let room, _, let to) = event.kind {
            return Array("*** You invited \(to) to \(room).\r\n".utf8)
        }
        return Array(TextFormat.render(event, inCurrentRoom: view.inCurrentRoom).utf8)
    }

    public func canonical(_ view: View) -> View {
        View(inCurrentRoom: view.inCurrentRoom, isEcho: view.isEcho)
    }

    /// A refused text client reads the reason alone: `*** The server is full …`.
    public func renderRefusal(_ bye: Event) -> [UInt8] {
        guard case .bye(let reason, _) = bye.kind else { return render(bye, View()) }
        return Array("*** \(reason)\r\n".utf8)
    }
}

/// The JSON protocol: one object per line, for programs and the web page (docs/PROTOCOL.md,
/// "JSON mode").
public struct JSONDialect: Dialect {
    public init() {}

    public var clientKind: ClientKind { .json }
    public var isInteractive: Bool { false }
    public var echoesOwnMessages: Bool { true }

    /// A first line that is a JSON object.
    public func claims(firstLine line: [UInt8]) -> Bool {
        line.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "{")
    }

    public func read(_ line: [UInt8], registered: Bool) -> Reading {
        switch JSONRequest.parse(line) {
        case .failure(let error): .invalid(error, re: nil)
        case .success(let request):
            switch request.kind {
            case .hello(let nick, let client): .hello(nick: nick, client: client, re: request.correlation)
            case .command(let command): .command(command, re: request.correlation)
            }
        }
    }

    public func render(_ event: Event, _ view: View) -> [UInt8] {
        guard !view.isAnswer, event.re != nil else { return JSONFormat.render(event) }
        // A request's id belongs to the one who asked: everyone else sees the event without it.
        var seenByAll = event
        seenByAll.re = nil
        return JSONFormat.render(seenByAll)
    }

    public func canonical(_ view: View) -> View {
        View(isAnswer: view.isAnswer)
    }
}
