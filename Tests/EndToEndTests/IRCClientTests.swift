import ChatCore
import Foundation
import Testing

/// Real IRC clients (Debian's irssi and WeeChat) in a real terminal (tmux), in the same room as
/// a text user and a web user (the WebSocket JSON protocol the page speaks).
@Suite("IRC clients")
struct IRCClientTests {
    /// chatd with the IRC listener and the web client, a text user and a web user in #lobby.
    func setUp() throws -> (daemon: Daemon, port: Int, text: Client, web: WebSocketClient) {
        let daemon = try Daemon(extraArguments: ["--irc-listen", "127.0.0.1:0"])
        let port = try daemon.ircPort()
        let text = try daemon.registered("bob")
        let web = try WebSocketClient(port: try daemon.webPort())
        try web.register("webby")
        return (daemon, port, text, web)
    }

    @Test("irssi: registers, joins, talks both ways with text and web users, /me, /topic, /whois, /part, /quit")
    func irssi() throws {
        let (daemon, port, text, web) = try setUp()
        let home = daemon.directory + "/irssi"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let terminal = try Tmux(["irssi", "--home=\(home)", "-c", "127.0.0.1", "-p", "\(port)", "-n", "alice"], width: 100, height: 30)
        try terminal.waitFor(row: "Welcome to the chatd IRC Network, alice")
        try text.expect("*** alice has joined #lobby")
        // The server put alice in #lobby: its window is the second.
        try terminal.submit("/window 2")
        try terminal.waitFor(row: "[#lobby]")

        try text.line("hi alice, from a terminal")
        try terminal.waitFor(row: "< bob> hi alice, from a terminal")
        try web.send(text: ##"{"type":"message","room":"#lobby","text":"and from a browser"}"##)
        try terminal.waitFor(row: "< webby> and from a browser")
        try terminal.submit("hello both, from irssi")
        try text.expect("<alice> hello both, from irssi")
        try web.expectJSON(type: "message") { $0.string("from") == "alice" && $0.string("text") == "hello both, from irssi" }
        try text.line("/me waves")
        try terminal.waitFor(row: "* bob waves")
        try terminal.submit("/me nods")
        try text.expect("* alice nods")
        try terminal.submit("/topic Tea and IRC")
        try text.expect("*** alice set the topic of #lobby: Tea and IRC")
        try terminal.waitFor(row: "alice changed the topic of #lobby to: Tea and IRC")
        try terminal.submit("/whois bob")
        // irssi shows a WHOIS in its status window.
        try terminal.submit("/window 1")
        try terminal.waitFor(row: "bob [~bob@chatd]")
        try terminal.waitFor(row: "End of WHOIS")
        try terminal.submit("/part #lobby off to tea")
        try text.expect("*** alice has left #lobby (off to tea)")
        try terminal.submit("/quit see you")
        _ = try terminal.waitForExit(timeout: 10)  // irssi has exited (tmux may not know its status)
        let who = try daemon.chatctl(["who"]).out
        #expect(!who.contains("alice"), "\(who)")
    }

    @Test("irssi signs in with SASL PLAIN as it connects: the account is there before it registers, and WHOIS says so")
    func irssiSASL() throws {
        let daemon = try Daemon(config: #"{"accounts": {"scryptCost": 10}}"#, extraArguments: ["--irc-listen", "127.0.0.1:0", "--no-web"])
        let port = try daemon.ircPort()
        let owner = try daemon.registered("carol")
        try owner.line("/register carols password")
        try owner.expect("*** You are signed in as carol.")
        try owner.line("/nick carol_at_work")
        try owner.expect("*** carol is now known as carol_at_work")
        let home = daemon.directory + "/irssi-sasl"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        // irssi's own configuration: a network with SASL PLAIN, and a server on it that connects at start.
        let config = """
            chatnets = { chatd = { type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "carol"; sasl_password = "carols password"; }; };
            servers = ( { address = "127.0.0.1"; chatnet = "chatd"; port = "\(port)"; autoconnect = "yes"; } );
            settings = { core = { real_name = "Carol"; user_name = "carol"; nick = "carol"; }; };
            """
        try config.write(toFile: home + "/config", atomically: true, encoding: .utf8)
        let terminal = try Tmux(["irssi", "--home=\(home)"], width: 100, height: 30)
        try terminal.waitFor(row: "Welcome to the chatd IRC Network, carol")
        try owner.expect("*** carol has joined #lobby")
        try owner.line("/whois carol")
        try owner.expect(containing: "client irc; signed in as carol")
        try terminal.submit("/quit")
        _ = try terminal.waitForExit(timeout: 10)
    }

    @Test("WeeChat: connects, talks with text and web users, /me, /topic, /quit")
    func weechat() throws {
        let (daemon, port, text, web) = try setUp()
        let home = daemon.directory + "/weechat"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let commands = "/server add chatd 127.0.0.1/\(port) -notls;/set irc.server.chatd.nicks carol;/connect chatd"
        let terminal = try Tmux(["weechat", "-d", home, "-r", commands], width: 120, height: 30)
        try text.expect("*** carol has joined #lobby")
        try terminal.waitFor(row: "#lobby")
        try text.line("hello carol")
        try terminal.waitFor { $0.contains { $0.contains("bob") && $0.contains("hello carol") } }
        try web.send(text: ##"{"type":"message","room":"#lobby","text":"hi from the web"}"##)
        try terminal.waitFor { $0.contains { $0.contains("webby") && $0.contains("hi from the web") } }
        try terminal.submit("hi bob, from weechat")
        try text.expect("<carol> hi bob, from weechat")
        try web.expectJSON(type: "message") { $0.string("from") == "carol" }
        try terminal.submit("/me tips her hat")
        try text.expect("* carol tips her hat")
        try terminal.submit("/topic Weechat was here")
        try text.expect("*** carol set the topic of #lobby: Weechat was here")
        try terminal.submit("/quit bye")
        try text.expect("*** carol has quit (Quit: bye)")
    }
}

extension Tmux {
    /// Waits until `match` holds for the screen's rows.
    @discardableResult
    func waitFor(timeout: Double = 10, _ match: @escaping ([String]) -> Bool) throws -> [String] {
        try waitFor("the screen to match", timeout: timeout, match)
    }
}
