import ChatCore
import Foundation
import Testing

/// Accounts (issue 19): registered nicks kept in the history store, signed in to from every
/// transport. A low scrypt cost keeps these tests fast; the default is in docs/SECURITY.md.
@Suite("accounts")
struct AccountEndToEndTests {
    static let config = #"{"accounts": {"scryptCost": 10}}"#

    @Test(
        "register, reconnect and sign in; a wrong password is refused; accounts survive a restart; another nick signs in and takes the account's"
    )
    func registerAndSignIn() throws {
        let daemon = try Daemon(config: Self.config)
        let alice = try daemon.registered("alice")
        try alice.line("/register short")
        try alice.expect(containing: "*** Error: A password has 8 to 128 characters; that one has 5.")
        try alice.line("/register correct horse")
        try alice.expect("*** Registered the account alice: sign in with /login alice PASSWORD.")
        try alice.expect("*** You are signed in as alice.")
        let bob = try daemon.registered("bob")
        try bob.line("/whois alice")
        try bob.expect(containing: "; signed in as alice")
        try alice.line("/quit")
        _ = try alice.readUntilClosed()
        #expect(try daemon.stop() == 0)

        let restarted = try Daemon(config: Self.config, directory: daemon.directory)
        let again = try restarted.registered("alicia")
        try again.line("/login alice wrong horse")
        try again.expect("*** Error: Wrong password.")
        try again.line("/login alice correct horse")
        try again.expect("*** You are signed in as alice.")
        try again.expect("*** alicia is now known as alice")
        try again.line("/register correct horse")
        try again.expect("*** Error: You are signed in as alice already.")
    }

    @Test("failed sign-ins are limited per account: the sixth is refused without a check, even with the right password")
    func rateLimited() throws {
        let daemon = try Daemon(config: Self.config)
        let owner = try daemon.registered("carol")
        try owner.line("/register carols password")
        try owner.expect("*** You are signed in as carol.")
        let guesser = try daemon.registered("mallory")
        for guess in 1...5 {
            try guesser.line("/login carol guess number \(guess)")
            try guesser.expect("*** Error: Wrong password.")
        }
        try guesser.line("/login carol carols password")
        try guesser.expect(containing: "*** Error: Too many failed sign-ins: try again in")
    }

    @Test("a registered nick taken without signing in is renamed to a guest nick after the grace period, which the room sees")
    func protectedNick() throws {
        let daemon = try Daemon(config: #"{"accounts": {"scryptCost": 10, "graceSeconds": 1}}"#)
        let owner = try daemon.registered("erin")
        try owner.line("/register erins password")
        try owner.expect("*** You are signed in as erin.")
        try owner.line("/nick erin_away")
        try owner.expect("*** erin is now known as erin_away")
        let other = try daemon.connect()
        try other.line("erin")
        try other.expect("*** erin is a registered account: /login PASSWORD within 1s, or you will be renamed.")
        try other.expect(containing: "*** You did not sign in to erin in time: you are Guest")
        try owner.expect(containing: "*** erin is now known as Guest")
    }

    @Test("chatctl account: list, show (who is signed in), reset-password from standard input, drop (which signs them out)")
    func operators() throws {
        let daemon = try Daemon(config: Self.config)
        let frank = try daemon.registered("frank")
        try frank.line("/register franks password")
        try frank.expect("*** You are signed in as frank.")
        let list = try daemon.chatctl(["account", "list"])
        #expect(list.status == 0 && list.out.hasPrefix("frank  created ") && list.out.contains("signed in: frank"), "\(list)")
        let show = try daemon.chatctl(["account", "show", "FRANK"])
        #expect(show.out.contains("frank: created ") && show.out.contains("signed in: frank"), "\(show)")
        let stdin = ["/bin/sh", "-c", #"printf 'a new password\n' | "$0" "$@""#]
        let reset = try daemon.chatctl(["account", "reset-password", "frank"], prefix: stdin)
        #expect(reset.status == 0 && reset.out == "password of frank reset\n", "\(reset)")
        let other = try daemon.registered("grace")
        try other.line("/login frank franks password")
        try other.expect("*** Error: Wrong password.")
        try other.line("/login frank a new password")
        try other.expect("*** You are signed in as frank.")
        let drop = try daemon.chatctl(["account", "drop", "frank"])
        #expect(drop.out == "dropped frank\n", "\(drop)")
        try frank.expect("*** An operator dropped the account frank.")
        try frank.expect("*** You are not signed in to an account now.")
        try other.expect("*** You are not signed in to an account now.")
        let missing = try daemon.chatctl(["account", "show", "frank"])
        #expect(missing.status == 1 && missing.err.contains("There is no account frank."), "\(missing)")
        let unknown = try daemon.chatctl(["account", "frobnicate"])
        #expect(unknown.status == 64, "\(unknown)")
    }

    @Test("JSON: register, account events with re, login under another nick; password change; unregister signs out")
    func json() throws {
        let daemon = try Daemon(config: Self.config)
        let bot = try daemon.connect()
        try bot.line(#"{"type":"hello","nick":"deploybot"}"#)
        _ = try bot.expect(containing: #""type":"welcome""#)
        try bot.line(#"{"type":"register","password":"pipeline secret","id":1}"#)
        _ = try bot.expect(containing: #"{"type":"account","#)
        try bot.line(#"{"type":"message","text":"deployed","id":9}"#)
        let said = try bot.expect(containing: #""re":9"#)
        #expect(said.contains(#""account":"deploybot""#), "a signed-in sender's messages carry its account: \(said)")
        try bot.line(#"{"type":"password","old":"pipeline secret","new":"new pipeline secret","id":2}"#)
        let changed = try bot.expect(containing: #""re":2"#)
        #expect(changed.contains("The password of deploybot is changed."), "\(changed)")
        try bot.line(#"{"type":"login","nick":"deploybot","password":"pipeline secret","id":3}"#)
        let already = try bot.expect(containing: #""re":3"#)
        #expect(already.contains("signed in as deploybot already"), "\(already)")
        try bot.line(#"{"type":"unregister","password":"new pipeline secret","id":4}"#)
        let out = try bot.expect(containing: #"{"type":"account","#)
        #expect(!out.contains(#""name""#), "signed out: \(out)")
        try bot.line(#"{"type":"login","password":"new pipeline secret","id":5}"#)
        let gone = try bot.expect(containing: #""re":5"#)
        #expect(gone.contains(#""code":"no_such_account""#), "\(gone)")
    }

    @Test(
        "IRC SASL PLAIN: signed in before registration (900, 903), CAP END waiting for it; a wrong password gets 904 and registers unsigned"
    )
    func sasl() throws {
        let daemon = try Daemon(config: Self.config, extraArguments: ["--irc-listen", "127.0.0.1:0", "--no-web"])
        let port = try daemon.ircPort()
        let owner = try daemon.registered("heidi")
        try owner.line("/register heidis password")
        try owner.expect("*** You are signed in as heidi.")
        try owner.line("/nick heidi_elsewhere")
        try owner.expect("*** heidi is now known as heidi_elsewhere")
        for (password, signedIn) in [("wrong password", false), ("heidis password", true)] {
            let irc = try IRCClient(unregisteredPort: port)
            try irc.send("CAP LS 302")
            let offered = try irc.expect(prefix: ":chatd CAP * LS :")
            #expect(offered.contains(" sasl=PLAIN "), "\(offered)")
            try irc.send("NICK heidi")
            try irc.send("USER heidi 0 * :Heidi")
            try irc.send("CAP REQ :sasl")
            try irc.expect(":chatd CAP * ACK :sasl")
            try irc.send("AUTHENTICATE PLAIN")
            try irc.expect("AUTHENTICATE +")
            try irc.send("AUTHENTICATE " + Base64.encode(Array("heidi\0heidi\0\(password)".utf8)))
            try irc.send("CAP END")  // sent at once, as some clients do: registration waits for the answer
            if signedIn {
                try irc.expect(":chatd 900 * *!~*@chatd heidi :You are now logged in as heidi")
                try irc.expect(":chatd 903 * :SASL authentication successful")
                try irc.expect(":chatd 001 heidi :Welcome to the chatd IRC Network, heidi")
                try irc.expect(":chatd 366 heidi #lobby :End of /NAMES list.")
                try irc.send("WHOIS heidi")
                try irc.expect(":chatd 330 heidi heidi heidi :is logged in as")
            } else {
                try irc.expect(":chatd 904 * :SASL authentication failed")
                try irc.expect(":chatd 001 heidi :Welcome to the chatd IRC Network, heidi")
                // Not signed in, on a registered nick: told to sign in.
                try irc.expect(":chatd NOTICE heidi :heidi is a registered account: /login PASSWORD within 1m00s, or you will be renamed.")
                try irc.send("QUIT")
                _ = try irc.tcp.readUntilClosed()
            }
        }
    }

    @Test("IRC: NickServ REGISTER and IDENTIFY, answered with 900; WHOIS shows 330")
    func irc() throws {
        let daemon = try Daemon(config: Self.config, extraArguments: ["--irc-listen", "127.0.0.1:0", "--no-web"])
        let port = try daemon.ircPort()
        let first = try IRCClient(port: port, nick: "dave")
        try first.send("PRIVMSG NickServ :REGISTER hunter2hunter2 dave@example.org")
        try first.expect(":chatd 900 dave dave!~dave@chatd dave :You are now logged in as dave")
        try first.send("QUIT")
        _ = try first.tcp.readUntilClosed()
        let second = try IRCClient(port: port, nick: "dave_")
        try second.send("NS IDENTIFY dave hunter2hunter2")
        try second.expect(":chatd 900 dave_ dave_!~dave_@chatd dave :You are now logged in as dave")
        try second.expect(":dave_!~dave_@chatd NICK :dave")
        try second.send("WHOIS dave")
        try second.expect(":chatd 330 dave dave dave :is logged in as")
        // account-tag: what a signed-in user says carries its account, for those who asked.
        let watcher = try IRCClient(port: port, nick: "erin")
        try watcher.send("CAP REQ account-tag")
        try watcher.expect(":chatd CAP erin ACK :account-tag")
        try second.send("PRIVMSG #lobby :signed and sealed")
        try watcher.expect("@account=dave :dave!~dave@chatd PRIVMSG #lobby :signed and sealed")
    }
}
