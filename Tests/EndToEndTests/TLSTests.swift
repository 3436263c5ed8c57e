import Foundation
import Glibc
import Testing

/// `openssl s_client` as a chat client: the test writes lines to its stdin, and reads the
/// handshake's report, then what chatd says, from its output.
private final class SClient: PipedProcess {
    init(port: Int, _ options: [String]) throws {
        try super.init(["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-ign_eof"] + options)
    }

    func line(_ text: String) { write(text + "\n") }

    /// A client that verifies chatd's certificate against `pki`'s CA for localhost, once the
    /// handshake has said so.
    static func verified(port: Int, _ pki: TestPKI) throws -> SClient {
        let client = try SClient(port: port, ["-CAfile", pki.caCertificate, "-verify_return_error", "-verify_hostname", "localhost"])
        try client.waitFor("Verify return code: 0 (ok)")
        return client
    }
}

/// TLS chat listeners, end to end: the built chatd with a certificate from a private CA, and
/// openssl's own client.
@Suite("TLS")
struct TLSTests {
    /// A daemon with a TLS listener (`flag`'s kind) presenting `first`, and its TLS port.
    func daemon(_ pki: TestPKI, flag: String = "--tls-listen") throws -> (Daemon, tlsPort: Int, certificate: String, key: String) {
        let certificate = pki.directory + "/live.pem"
        let key = pki.directory + "/live.key"
        try pki.install("first", at: certificate, keyAt: key)
        let port = try freeLoopbackPort()
        let daemon = try Daemon(
            config: #"{"tls": {"certificate": "\#(certificate)", "key": "\#(key)"}}"#, extraArguments: [flag, "127.0.0.1:\(port)"])
        return (daemon, port, certificate, key)
    }

    @Test("a TLS client chats with a plaintext one: the certificate verifies against the CA, and lines go both ways")
    func chat() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (daemon, port, _, _) = try daemon(pki)
        try daemon.waitForLog("listening for chat clients over TLS on 127.0.0.1:\(port)")
        let tls = try SClient.verified(port: port, pki)
        try tls.waitFor("Please choose a nickname:")
        tls.line("alice")
        try tls.waitFor("You are now known as alice")
        let bob = try daemon.registered("bob")
        try bob.line("hello, encrypted alice")
        try tls.waitFor("<bob> hello, encrypted alice")
        tls.line("hello, plain bob")
        try bob.expect("<alice> hello, plain bob")
        let who = try daemon.chatctl(["who"])
        #expect(who.out.contains("alice") && who.out.contains("127.0.0.1"), "\(who.out)")
        let stats = try daemon.chatctl(["stats"])
        #expect(stats.out.contains("connections:  2 (parked 0; chat=1 tls=1)"), "counted by listener: \(stats.out)")
    }

    @Test("IRC over TLS (irc.tlsListen): openssl s_client registers and talks with a plaintext text user")
    func irc() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (daemon, port, _, _) = try daemon(pki, flag: "--irc-tls-listen")
        try daemon.waitForLog("listening for IRC clients over TLS on 127.0.0.1:\(port)")
        let tls = try SClient.verified(port: port, pki)
        tls.line("NICK alice")
        tls.line("USER alice 0 * :Alice")
        try tls.waitFor(":chatd 001 alice :Welcome to the chatd IRC Network, alice")
        try tls.waitFor(":chatd 366 alice #lobby :End of /NAMES list.")
        let bob = try daemon.registered("bob")
        try bob.line("over the wire, encrypted")
        try tls.waitFor(":bob!~bob@chatd PRIVMSG #lobby :over the wire, encrypted")
        tls.line("PRIVMSG #lobby :and back")
        try bob.expect("<alice> and back")
        let stats = try daemon.chatctl(["stats"])
        #expect(stats.out.contains("irc-tls=1"), "\(stats.out)")
    }

    @Test("only TLS 1.2 and 1.3 with forward-secret AEAD ciphers are offered")
    func versions() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (daemon, port, _, _) = try daemon(pki)
        try daemon.waitForLog("listening for chat clients over TLS")
        for (options, accepted) in [
            (["-tls1_3"], true), (["-tls1_2"], true), (["-tls1_1"], false), (["-tls1"], false),
            (["-tls1_2", "-cipher", "AES128-SHA"], false), (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA"], false),
            (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], true),
        ] {
            let client = try SClient(port: port, options + ["-CAfile", pki.caCertificate, "-brief"])
            if accepted {
                try client.waitFor("Please choose a nickname:")
            } else {
                #expect(try client.waitForExit() != 0, "\(options) was accepted:\n\(client.output.text)")
            }
        }
    }

    @Test("a reload presents a renewed certificate to new clients while a TLS client stays connected; a key that does not match is refused")
    func reload() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (daemon, port, certificate, key) = try daemon(pki)
        try daemon.waitForLog("listening for chat clients over TLS")
        let alice = try SClient(port: port, ["-CAfile", pki.caCertificate, "-brief"])
        try alice.waitFor("CN = first")
        try alice.waitFor("Please choose a nickname:")
        alice.line("alice")
        try alice.waitFor("You are now known as alice")

        try pki.install("second", at: certificate, keyAt: key)
        let reloaded = try daemon.chatctl(["reload"])
        #expect(reloaded.status == 0, "\(reloaded.out) \(reloaded.err)")
        let later = try SClient(port: port, ["-CAfile", pki.caCertificate, "-brief"])
        try later.waitFor("CN = second")
        try later.waitFor("Please choose a nickname:")
        let bob = try daemon.registered("bob")
        try bob.line("still there, alice?")
        try alice.waitFor("<bob> still there, alice?")

        // A certificate with another's key: refused with a clear error; the running one stays.
        try pki.install("first", keyOf: "second", at: certificate, keyAt: key)
        let refused = try daemon.chatctl(["reload"])
        #expect(refused.status != 0, "\(refused.out)")
        #expect(refused.err.contains("tls.key") && refused.err.contains("does not match"), "\(refused.err)")
        let after = try SClient(port: port, ["-CAfile", pki.caCertificate, "-brief"])
        try after.waitFor("CN = second")
        // An unreadable key file: the same.
        try FileManager.default.removeItem(atPath: key)
        let missing = try daemon.chatctl(["reload"])
        #expect(missing.err.contains("cannot be read: No such file or directory"), "\(missing.err)")
    }

    @Test("a certificate or key that cannot be used stops chatd at start with exit 78; tls.listen needs both")
    func startup() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let mismatched =
            #"{"tls": {"listen": ["127.0.0.1:0"], "certificate": "\#(pki.certificate("first"))", "key": "\#(pki.key("second"))"}}"#
        let config = pki.directory + "/mismatched.json"
        try mismatched.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try Daemon.runToCompletion([
            "--config", config, "--listen", "127.0.0.1:0", "--no-web", "--admin-socket", pki.directory + "/admin.sock",
            "--state-directory", pki.directory,
        ])
        #expect(run.status == 78, "\(run.output)")
        #expect(run.output.contains("does not match the certificate"), "\(run.output)")
        let incomplete = pki.directory + "/incomplete.json"
        try #"{"tls": {"listen": ["127.0.0.1:0"]}}"#.write(toFile: incomplete, atomically: true, encoding: .utf8)
        let check = try Daemon.runToCompletion(["--config", incomplete, "--check-config"])
        #expect(check.status == 78)
        #expect(check.output.contains("tls.certificate") && check.output.contains("is needed for tls.listen"), "\(check.output)")
    }

    @Test(
        "chat over TLS: verified against a private CA with --ca; an unknown CA, another host's certificate, an expired one or a plain port give a clear error and no connection"
    )
    func chatClient() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (daemon, port, certificate, key) = try daemon(pki)
        try daemon.waitForLog("listening for chat clients over TLS")
        let bob = try daemon.registered("bob")
        let ada = try PipedChat(["--nick", "ada", "tls://127.0.0.1:\(port)", "--ca", pki.caCertificate])
        try ada.waitFor("You are now known as ada")
        try bob.expect("*** ada has joined #lobby")
        ada.write("hello over TLS\n")
        try bob.expect("<ada> hello over TLS")
        try bob.line("and back")
        try ada.waitFor("<bob> and back")
        ada.closeInput()
        #expect(try ada.waitForExit() == 0)

        func refused(_ arguments: [String]) throws -> String {
            let chat = try PipedChat(["--nick", "eve"] + arguments)
            let status = try chat.waitForExit()
            #expect(status == 1, "\(arguments): \(chat.output.text)")
            return chat.output.text
        }
        // The system's CAs do not know the test CA.
        let unknown = try refused(["tls://127.0.0.1:\(port)"])
        #expect(unknown.contains("the server's certificate could not be verified"), "\(unknown)")
        // A certificate for chat.example.org, reached as 127.0.0.1.
        try pki.install("elsewhere", at: certificate, keyAt: key)
        #expect(try daemon.chatctl(["reload"]).status == 0)
        let elsewhere = try refused(["tls://127.0.0.1:\(port)", "--ca", pki.caCertificate])
        #expect(elsewhere.contains("the server's certificate is not for this host name"), "\(elsewhere)")
        // Expired in 2020.
        try pki.install("expired", at: certificate, keyAt: key)
        #expect(try daemon.chatctl(["reload"]).status == 0)
        let expired = try refused(["--tls", "127.0.0.1:\(port)", "--ca", pki.caCertificate])
        #expect(expired.contains("could not be verified: it has expired"), "\(expired)")
        // TLS asked of a plaintext port: no fallback.
        let plain = try refused(["tls://127.0.0.1:\(daemon.port)", "--ca", pki.caCertificate])
        #expect(plain.contains("no connection to"), "\(plain)")
        #expect(!plain.contains("You are now known as"), "\(plain)")
        try bob.line("/who #lobby")
        try bob.expect("*** #lobby (1 user): bob")
    }

    @Test("the web client over HTTPS and WSS: the page, the WebSocket upgrade, TLS 1.1 refused; the chat port names the https address")
    func web() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let port = try freeLoopbackPort()
        let daemon = try Daemon(
            config: #"{"tls": {"certificate": "\#(pki.certificate("first"))", "key": "\#(pki.key("first"))"}}"#,
            extraArguments: ["--web-tls-listen", "127.0.0.1:\(port)"])
        try daemon.waitForLog("serving the web client on https://127.0.0.1:\(port)/")
        #expect(!daemon.output.contains("serving the web client on http://"), "HTTPS only: --web-tls-listen without --web-listen")
        let page = try Daemon.run(["/usr/bin/curl", "-sS", "-D", "-", "--cacert", pki.caCertificate, "https://127.0.0.1:\(port)/"])
        #expect(page.status == 0 && page.out.contains("app.js"), "\(page.err)")
        #expect(page.out.lowercased().contains("strict-transport-security: max-age=31536000"), "HSTS over HTTPS: \(page.out.prefix(600))")
        let old = try Daemon.run(["/usr/bin/curl", "-sS", "--cacert", pki.caCertificate, "--tls-max", "1.1", "https://127.0.0.1:\(port)/"])
        #expect(old.status != 0, "TLS 1.1 was accepted")
        let plain = try Daemon.run(["/usr/bin/curl", "-sS", "http://127.0.0.1:\(port)/"])
        #expect(plain.status != 0 || !plain.out.contains("app.js"), "plain HTTP on the TLS port served the page")
        // The page's WebSocket, upgraded inside TLS.
        let wss = try SClient(port: port, ["-CAfile", pki.caCertificate, "-quiet"])
        wss.write(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: https://127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        try wss.waitFor("HTTP/1.1 101 Switching Protocols")
        try wss.waitFor("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        // A browser pointed at the chat port is sent to the https address.
        let lost = try daemon.connect()
        try lost.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let response = try lost.readUntilClosed()
        #expect(response.contains("For the web client, open port \(port) in your browser: https://HOST:\(port)/"), "\(response)")
    }
}
