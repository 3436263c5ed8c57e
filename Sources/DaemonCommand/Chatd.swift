import ArgumentParser
import ChatCore
import ChatServer
import FoundationEssentials
import Glibc
import Logging
import Systemd

public struct Chatd: AsyncParsableCommand, Sendable {
    public init() {}

    /// Parses the command line and runs the daemon: AsyncParsableCommand's `main()`, which
    /// another module's top-level code cannot pick over ParsableCommand's synchronous one.
    public static func launch() async {
        do {
            var command = try parseAsRoot()
            if let daemon = command as? Chatd {
                try await daemon.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let defaultConfigPath = "/etc/chatd/chatd.json"

    public static let configuration = CommandConfiguration(
        commandName: "chatd",
        abstract: "A chat daemon: rooms, nicknames and private messages over telnet, nc and JSON lines.",
        discussion: """
            Reads \(defaultConfigPath), or the file given with --config; with neither, runs on the built-in defaults (chat on 127.0.0.1:7777, the web client on http://127.0.0.1:8080/). Flags override the file for a one-off run. --listen without --web-listen leaves the web client off, unless the file configures it.

            Examples:
              chatd                  # the defaults; then telnet 127.0.0.1 7777
              chatd --check-config --config /etc/chatd/chatd.json
              chatd --listen 0.0.0.0:7777 --listen [::]:7777
              chatd --web-listen 0.0.0.0:8080     # the page, for all
            """,
        version: ChatServerInfo.version
    )

    @Option(name: .long, help: ArgumentHelp("Path of the JSON configuration file.", valueName: "path"))
    var config: String?

    @Flag(name: .long, help: "Validate the configuration, print any problems, and exit (0 if valid, 78 if not).")
    var checkConfig = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept chat clients on HOST:PORT (IPv6 as [::1]:PORT; port 0 picks a free one). Repeatable; replaces the config's list.",
            valueName: "host:port"))
    var listen: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve the web client and its WebSocket on HOST:PORT. Repeatable; replaces web.listen and turns web.enabled on.",
            valueName: "host:port"))
    var webListen: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept chat clients over TLS on HOST:PORT (needs tls.certificate and tls.key). Repeatable; replaces tls.listen.",
            valueName: "host:port"))
    var tlsListen: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve the web client over HTTPS (and WSS) on HOST:PORT (needs tls.certificate and tls.key). Repeatable; replaces web.tlsListen.",
            valueName: "host:port"))
    var webTLSListen: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve Prometheus metrics (/metrics) and a health check (/healthz) on HOST:PORT. Repeatable; replaces metrics.listen.",
            valueName: "host:port"))
    var metricsListen: [String] = []

    @Option(name: .long, help: ArgumentHelp("Accept IRC clients on HOST:PORT. Repeatable; replaces irc.listen.", valueName: "host:port"))
    var ircListen: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept IRC clients over TLS on HOST:PORT (needs tls.certificate and tls.key). Repeatable; replaces irc.tlsListen.",
            valueName: "host:port"))
    var ircTLSListen: [String] = []

    @Flag(name: .long, help: "Do not serve the web client (overrides web.enabled).")
    var noWeb = false

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("Path of the admin socket (overrides admin.socket).", valueName: "path"))
    var adminSocket: String?

    @Option(name: .long, help: ArgumentHelp("Directory for state kept across restarts (overrides stateDirectory).", valueName: "path"))
    var stateDirectory: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Event-loop threads, 1 to 64, or 0 for one per core but one (overrides eventLoops).", valueName: "n"))
    var eventLoops: Int?

    public func run() async throws {
        let (loaded, source) = loadConfig()
        let config: Config
        switch loaded {
        case .success(let c): config = c
        case .failure(let error):
            printProblems(error.issues, source: source)
            throw ExitCode(78)  // EX_CONFIG
        }
        if checkConfig {
            print("chatd: configuration from \(source) is valid")
            return
        }

        let logLevel = LogLevelControl(Logger.Level(rawValue: config.logging.level) ?? .info)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0, control: logLevel) }
        let logger = Logger(label: "chatd")
        logger.info("configuration loaded", metadata: ["source": "\(source)"])
        if !listen.isEmpty && webListen.isEmpty && !noWeb && !config.web.enabled && config.web.listen == Config().web.listen {
            logger.notice("the web client is off: --listen was given without --web-listen (add --web-listen HOST:PORT to serve it)")
        }
        let options = self
        do {
            try await ChatDaemon.run(config: config, reload: { options.loadConfig().0 }, logLevel: logLevel, logger: logger)
        } catch let error as StartupError {
            logger.critical("\(error.description)")
            throw ExitCode(error.exitCode)
        }
    }

    /// Whether `--listen` turns the web client off: given without `--web-listen` (or
    /// `--no-web`) while the file leaves the web listener at its default. A daemon told where to
    /// listen should not open a second, unnamed port.
    private func listenTurnsWebOff(_ loaded: Config) -> Bool {
        !listen.isEmpty && webListen.isEmpty && !noWeb && loaded.web.enabled && loaded.web.listen == Config().web.listen
    }

    /// The file's config (or the defaults) with the command-line overrides applied.
    private func applyOverrides(_ loaded: Config) -> Result<Config, ConfigError> {
        var config = loaded
        var problems: [ConfigIssue] = []
        if listenTurnsWebOff(loaded) { config.web.enabled = false }
        // Each flag is held to the rule of the key it overrides (`Config.Rule`, `HostAndPort.Rules.listen`).
        func addresses(_ texts: [String], flag: String) -> [HostAndPort] {
            texts.compactMap { text in
                switch HostAndPort.parse(text, .listen) {
                case .success(let address): return address
                case .failure(let error):
                    problems.append(ConfigIssue(path: flag, message: error.description))
                    return nil
                }
            }
        }
        func check(_ flag: String, _ problem: String?) -> Bool {
            if let problem { problems.append(ConfigIssue(path: flag, message: problem)) }
            return problem == nil
        }
        if !listen.isEmpty { config.listen = addresses(listen, flag: "--listen") }
        if !metricsListen.isEmpty { config.metrics.listen = addresses(metricsListen, flag: "--metrics-listen") }
        if !ircListen.isEmpty { config.irc.listen = addresses(ircListen, flag: "--irc-listen") }
        if !ircTLSListen.isEmpty { config.irc.tlsListen = addresses(ircTLSListen, flag: "--irc-tls-listen") }
        for (flag, given) in [("--tls-listen", tlsListen), ("--web-tls-listen", webTLSListen)] where !given.isEmpty {
            if flag == "--tls-listen" {
                config.tls.listen = addresses(given, flag: flag)
            } else {
                config.web.enabled = true
                config.web.tlsListen = addresses(given, flag: flag)
                // HTTPS only, unless plain HTTP is asked for too (by flag or in the file).
                if webListen.isEmpty && loaded.web.listen == Config().web.listen { config.web.listen = [] }
            }
            if config.tls.certificate.isEmpty || config.tls.key.isEmpty {
                problems.append(ConfigIssue(path: flag, message: "needs tls.certificate and tls.key in the configuration file"))
            }
        }
        if !webListen.isEmpty {
            config.web.enabled = true
            config.web.listen = addresses(webListen, flag: "--web-listen")
        }
        if noWeb {
            if webListen.isEmpty && webTLSListen.isEmpty {
                config.web.enabled = false
            } else {
                problems.append(ConfigIssue(path: "--no-web", message: "cannot be combined with --web-listen or --web-tls-listen"))
            }
        }
        if let logLevel, check("--log-level", Config.Rule.logLevel(logLevel)) { config.logging.level = logLevel }
        if let adminSocket, check("--admin-socket", adminSocket.isEmpty ? "must not be empty" : Config.Rule.adminSocket(adminSocket)) {
            config.admin.socket = adminSocket
        }
        if let stateDirectory,
            check("--state-directory", stateDirectory.isEmpty ? "must not be empty" : Config.Rule.stateDirectory(stateDirectory))
        {
            config.stateDirectory = stateDirectory
        }
        if let eventLoops,
            check(
                "--event-loops",
                Config.Rule.eventLoops.contains(eventLoops)
                    ? nil : "must be from \(Config.Rule.eventLoops.lowerBound) to \(Config.Rule.eventLoops.upperBound)")
        {
            config.eventLoops = eventLoops
        }
        return problems.isEmpty ? .success(config) : .failure(ConfigError(problems))
    }

    /// The config with overrides, and where it came from: --config, the default path if present,
    /// or the defaults. Used at start and on every reload.
    private func loadConfig() -> (Result<Config, ConfigError>, String) {
        let (loaded, source): (Result<Config, ConfigError>, String)
        if let config {
            (loaded, source) = (Config.load(path: config), config)
        } else if FileManager.default.fileExists(atPath: Self.defaultConfigPath) {
            (loaded, source) = (Config.load(path: Self.defaultConfigPath), Self.defaultConfigPath)
        } else {
            (loaded, source) = (.success(Config()), "the built-in defaults")
        }
        return (loaded.flatMap(applyOverrides), source)
    }

    private func printProblems(_ issues: [ConfigIssue], source: String) {
        var stderr = StandardError()
        print("chatd: invalid configuration in \(source):", to: &stderr)
        for issue in issues { print("  \(issue)", to: &stderr) }
    }
}
