import ArgumentParser
import ChatClient
import ChatCore
import Glibc
import NIOSSL

public struct Chat: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk on a chatd server from the terminal.",
        discussion: """
            Interactive when stdin is a terminal: messages appear above an input line that they \
            never disturb. Keys: Left/Right, Home/End (Ctrl-A/E), Backspace/Delete, Ctrl-U/K/W to \
            delete to the start, to the end, the word before; Ctrl-Y puts it back; Up/Down for \
            history; Tab completes nicks, #rooms and /commands; Ctrl-L redraws; Ctrl-C or Ctrl-D \
            leaves. Type /help for the server's commands.

            When stdin is not a terminal, chat sends each line it reads (at the pace the server \
            allows), prints what happens in the room one line per event, and leaves when the \
            input ends.

            Examples:
              chat                              # the local chatd (127.0.0.1:7777)
              chat chat.example.org --nick ada  # port 7777
              chat [::1]:7000 --room '#dev'
              printf 'build passed\\n' | chat --nick ci --room '#dev'
              chat tls://chat.example.org       # TLS, port 6697, the system's CAs
              chat tls://10.0.0.5 --ca /etc/chatd/ca.pem
            """,
        version: ChatdVersion.current
    )

    @Argument(
        help: ArgumentHelp(
            "The server: HOST, HOST:PORT, [IPv6]:PORT or an IPv6 literal; tls://… for TLS (port 6697 by default).",
            valueName: "host[:port]"))
    var server: String = ""

    @Flag(name: .long, help: "Connect over TLS (as tls://HOST does): the certificate must verify and name the host; never plaintext.")
    var tls = false

    @Option(name: .long, help: ArgumentHelp("Also trust this CA's certificate (PEM), for a private CA. Implies --tls.", valueName: "file"))
    var ca: String?

    /// TLS was asked for, by the scheme or a flag.
    var usesTLS: Bool { tls || ca != nil || server.hasPrefix("tls://") }

    /// The server as HOST:PORT, without its scheme.
    var address: Result<HostAndPort, AddressError> {
        let text = server.hasPrefix("tls://") ? String(server.dropFirst(6)) : server
        return HostAndPort.parse(text, usesTLS ? .tlsServer : .server)
    }

    @Option(name: .shortAndLong, help: ArgumentHelp("Your nickname (asked for when not given).", valueName: "name"))
    var nick: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("A room to join (may be repeated; the last is current).", valueName: "#room"))
    var room: [String] = []

    @Flag(name: .long, help: "No colours (also when NO_COLOR is set, or output is not a terminal).")
    var noColor = false

    @Flag(inversion: .prefixedNo, help: "Show the time of each line (default: on in a terminal, off otherwise).")
    var timestamps: Bool?

    public func validate() throws {
        if server.contains("://") && !server.hasPrefix("tls://") {
            throw ValidationError("\(server): the only scheme is tls:// (or none, for plaintext).")
        }
        if case .failure(let error) = address { throw ValidationError(error.description) }
        if let ca, access(ca, R_OK) != 0 { throw ValidationError("--ca \(ca): \(String(cString: strerror(errno))).") }
        if nick == nil && !Terminal.isInteractive {
            throw ValidationError("--nick is needed when stdin is not a terminal (nobody can be asked for one).")
        }
    }

    public func run() throws {
        guard case .success(let address) = address else { return }
        var context: NIOSSLContext?
        if usesTLS {
            do {
                context = try TLSLayer.context(caFile: ca)
            } catch {
                throw ValidationError("cannot set up TLS: \(error)\(ca.map { " (is \($0) a PEM certificate?)" } ?? "")")
            }
        }
        let interactive = Terminal.isInteractive
        let noColorVariable = getenv("NO_COLOR").map { String(cString: $0).isEmpty == false } ?? false
        let color = !noColor && !noColorVariable && Terminal.stdoutIsTerminal
        let style = DisplayStyle(color: color, timestamps: timestamps ?? interactive, utcOffsetSeconds: Self.utcOffset())
        let rooms = room.map { $0.hasPrefix("#") ? $0 : "#" + $0 }
        let session = ClientSession(nick: nick, rooms: rooms, interactive: interactive)
        let status = ClientLoop(address: address, tls: context, session: session, style: style, interactive: interactive).run()
        if status != 0 { throw ExitCode(status) }
    }

    /// The local time zone's offset from UTC now, in seconds.
    static func utcOffset() -> Int {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return 0 }
        return local.tm_gmtoff
    }
}
