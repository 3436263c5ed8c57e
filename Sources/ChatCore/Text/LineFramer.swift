/// Turns the bytes of a line-mode connection into lines, consuming telnet negotiation on the way.
///
/// ```
///   bytes ──► telnet filter ──► line splitter ──► .line(bytes)      (LF ends a line; a CR before it is dropped)
///               │ IAC DO x   ──► .reply(IAC WONT x)                 (we refuse every option, each once:
///               │ IAC WILL x ──► .reply(IAC DONT x)                  a repeated request is not answered)
///               │ IAC SB … IAC SE, IAC <cmd>, IAC WONT/DONT x ──► consumed
///               │ IAC IAC    ──► a literal 0xFF data byte
///               ├ longer than maxLineBytes ──► .overlong once, the rest of that line is discarded
///               └ before the first line: a TLS ClientHello, or binary data ──► .notText once, then nothing
/// ```
///
/// The framer holds at most `maxLineBytes` of a partial line, so a client that never sends a
/// newline costs bounded memory. Telnet sequences may be split across reads at any byte.
///
/// A refusal is sent once per option and verb, as RFC 854 asks ("a request to enter a mode it is
/// already in should not be acknowledged"): the options stay off, so repeating the refusal
/// would only let a client that sends `IAC DO x` over and over, and never reads, queue replies
/// without bound. At most 512 replies (1,536 bytes) are ever sent on a connection.
public struct LineFramer: Sendable {
    public enum Output: Equatable, Sendable {
        /// A complete line, without its terminator; not yet sanitized.
        case line([UInt8])
        /// A line exceeded the limit; it is being discarded up to its end.
        case overlong
        /// Bytes to send back: a telnet refusal.
        case reply([UInt8])
        /// The peer does not speak a text protocol (checked until the first line ends).
        case notText(NotText)
    }

    public enum NotText: String, Equatable, Sendable {
        /// A TLS (or SSL) handshake: someone pointed a TLS client at a plain-text port.
        case tls
        /// Control bytes no terminal or text client sends.
        case binary
    }

    /// Control bytes (other than TAB, LF, CR, ESC and telnet's CR NUL) tolerated before the first
    /// line; more means binary data.
    static let binaryThreshold = 4

    public static let IAC: UInt8 = 255
    static let DONT: UInt8 = 254, DO: UInt8 = 253, WONT: UInt8 = 252, WILL: UInt8 = 251
    static let SB: UInt8 = 250, SE: UInt8 = 240

    private enum TelnetState: Equatable, Sendable {
        case data, command, option(verb: UInt8), subnegotiation, subnegotiationCommand
    }

    /// May be changed between feeds (on reload); applies from the next byte.
    public var maxLineBytes: Int
    private var line: [UInt8] = []
    private var discarding = false
    private var telnet = TelnetState.data
    /// Until the first line ends: data bytes seen, control bytes among them, the previous byte.
    private var sniffing = true
    private var sniffed = 0
    private var controls = 0
    private var previous: UInt8 = 0
    /// After `.notText`, input is ignored.
    private var rejected = false
    /// The options already refused: bit `x` of words 0–3 for `DO x`, of words 4–7 for `WILL x`.
    /// Empty (no allocation) until a client negotiates, as most never do.
    private var refused: [UInt64] = []

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// The telnet options refused so far: all a framer between lines carries (see `resumed`).
    public var refusedOptions: [UInt64] { refused }

    /// A framer past the first line and between lines, with `refusedOptions` already refused:
    /// the one a parked connection resumes with, exactly the one it parked with.
    public static func resumed(maxLineBytes: Int, refusedOptions: [UInt64]) -> LineFramer {
        var framer = LineFramer(maxLineBytes: maxLineBytes)
        framer.sniffing = false
        framer.refused = refusedOptions
        return framer
    }

    /// True when the framer holds nothing: past the first line, between lines, outside any
    /// telnet sequence: a connection whose framer is between lines can be parked.
    public var isBetweenLines: Bool {
        line.isEmpty && !discarding && telnet == .data && !sniffing && !rejected
    }

    /// Bytes of a partial line held so far.
    public var bufferedBytes: Int { line.count }

    /// Feeds bytes from the connection; `emit` is called for each output, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Output) -> Void) {
        for byte in bytes {
            if rejected { return }
            switch telnet {
            case .data:
                if byte == Self.IAC {
                    telnet = .command
                } else {
                    data(byte, emit)
                }
            case .command:
                switch byte {
                case Self.IAC:
                    telnet = .data
                    data(byte, emit)
                case Self.DO, Self.DONT, Self.WILL, Self.WONT:
                    telnet = .option(verb: byte)
                case Self.SB:
                    telnet = .subnegotiation
                default:
                    telnet = .data  // NOP, AYT, GA, ... : two-byte commands, consumed
                }
            case .option(let verb):
                telnet = .data
                if verb == Self.DO, firstRefusal(of: byte, offset: 0) {
                    emit(.reply([Self.IAC, Self.WONT, byte]))
                } else if verb == Self.WILL, firstRefusal(of: byte, offset: 4) {
                    emit(.reply([Self.IAC, Self.DONT, byte]))
                }
            case .subnegotiation:
                if byte == Self.IAC { telnet = .subnegotiationCommand }
            case .subnegotiationCommand:
                telnet = byte == Self.SE ? .data : .subnegotiation
            }
        }
    }

    public mutating func feed(_ bytes: [UInt8], _ emit: (Output) -> Void) {
        bytes.withUnsafeBytes { feed($0, emit) }
    }

    /// True the first time `option` is refused in its half of `refused` (`offset` 0 for DO, 4
    /// for WILL), marking it refused.
    private mutating func firstRefusal(of option: UInt8, offset: Int) -> Bool {
        if refused.isEmpty { refused = Array(repeating: 0, count: 8) }
        let word = offset + Int(option >> 6)
        let bit = UInt64(1) << (option & 63)
        guard refused[word] & bit == 0 else { return false }
        refused[word] |= bit
        return true
    }

    private mutating func data(_ byte: UInt8, _ emit: (Output) -> Void) {
        if sniffing && !sniff(byte, emit) { return }
        if byte == UInt8(ascii: "\n") {
            if discarding {
                discarding = false
            } else {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                emit(.line(line))
            }
            // The emitted line owns the storage now; keeping capacity here would only allocate a
            // second buffer that an idle connection then holds for nothing.
            line = []
            sniffing = false
            return
        }
        if discarding { return }
        // A CR is held until we know whether LF follows, so it counts as part of the line.
        if line.count >= maxLineBytes + (byte == UInt8(ascii: "\r") ? 1 : 0) {
            discarding = true
            line.removeAll()
            emit(.overlong)
            return
        }
        line.append(byte)
    }

    /// Looks at a data byte before the first line ends; false when the peer turned out not to
    /// speak text (and `.notText` was emitted).
    private mutating func sniff(_ byte: UInt8, _ emit: (Output) -> Void) -> Bool {
        defer {
            previous = byte
            sniffed += 1
        }
        // A TLS record starts 0x16 0x03 (handshake, version 3.x); SSLv2 hellos start 0x80.
        if (sniffed == 1 && previous == 0x16 && byte == 0x03) || (sniffed == 0 && byte == 0x80) {
            return reject(.tls, emit)
        }
        let isControl = byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D && byte != 0x1B
        if isControl && !(byte == 0 && previous == 0x0D) {
            controls += 1
            if controls >= Self.binaryThreshold { return reject(.binary, emit) }
        }
        return true
    }

    private mutating func reject(_ kind: NotText, _ emit: (Output) -> Void) -> Bool {
        rejected = true
        line = []
        emit(.notText(kind))
        return false
    }
}
