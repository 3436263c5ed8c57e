import Foundation
import Synchronization
import Testing

/// The web client in headless Chromium (Tests/Browser/web_client.py, Selenium), against the
/// built chatd, with a TCP user in the same room. `make test` installs Chromium, chromedriver and
/// Selenium (in .build/venv).
@Suite("the web client in a real browser")
struct BrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("a browser user and a TCP user see each other's messages, joins and leaves")
    func browserAndTelnet() throws {
        let python = Self.root.appendingPathComponent(".build/venv/bin/python").path
        guard FileManager.default.fileExists(atPath: python), FileManager.default.fileExists(atPath: "/usr/bin/chromedriver") else {
            Issue.record("Chromium, chromedriver or Selenium is missing: run `make browser-deps` (make test does)")
            return
        }
        // Fixed ports, so web_client.py can restart chatd where the page and the TCP user left it.
        let (chatPort, webPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        // A short scrollback, so the page has older lines to load as it scrolls up.
        let daemon = try Daemon(
            config: #"{"history": {"replayLines": 5}}"#,
            extraArguments: ["--listen", "127.0.0.1:\(chatPort)", "--web-listen", "127.0.0.1:\(webPort)"])
        daemon.keepDirectory.withLock { $0 = true }
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        let restart = [
            Daemon.binary, "--config", daemon.configPath, "--listen", "127.0.0.1:\(chatPort)", "--web-listen", "127.0.0.1:\(webPort)",
            "--admin-socket", daemon.adminSocket, "--state-directory", daemon.stateDirectory,
        ]
        let screenshots = Self.root.appendingPathComponent(".build/screenshots")
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let screenshot = screenshots.appendingPathComponent("web-client.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let chatctl = Daemon.binDirectory.appendingPathComponent("chatctl").path
        let run = try Daemon.run([
            python, Self.root.appendingPathComponent("Tests/Browser/web_client.py").path,
            "--url", "http://127.0.0.1:\(webPort)/", "--chat-port", "\(chatPort)", "--screenshot", screenshot,
            "--chatctl", chatctl, "--admin-socket", daemon.adminSocket, "--pid", "\(daemon.pid)", "--restart",
            restart.joined(separator: "\u{1F}"),
        ])
        #expect(run.status == 0, "web_client.py failed:\n\(run.out)\n\(run.err)")
        #expect(run.out.contains("ok: no errors or Content-Security-Policy violations"), "\(run.out)")
        #expect(FileManager.default.fileExists(atPath: screenshot), "a screenshot at \(screenshot)")
    }
}
