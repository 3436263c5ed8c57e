import ChatCore
import FoundationEssentials
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Systemd
import UnixSignals

/// The whole daemon: event loops, services, signals. `chatd` builds a `Config` and calls `run`.
public enum ChatDaemon {
    /// Runs until SIGTERM or SIGINT (or a drain's deadline), then shuts down gracefully.
    /// `reload` re-reads the configuration (SIGHUP, `chatctl reload`). Throws `StartupError` when
    /// a listener cannot be bound.
    public static func run(
        config: Config, reload: @escaping @Sendable () -> Result<Config, ConfigError>, logLevel: LogLevelControl, logger: Logger
    ) async throws {
        let openFiles = raiseOpenFileLimit(logger: logger)
        if let openFiles, openFiles < UInt64(config.limits.maxClients) + openFileReserve {
            logger.warning(
                "the open-file limit allows fewer clients than limits.maxClients; raise LimitNOFILE= (or ulimit -n) to serve more",
                metadata: [
                    "openFileLimit": "\(openFiles)", "maxClients": "\(config.limits.maxClients)",
                    "clientsPossible": "\(openFiles > openFileReserve ? openFiles - openFileReserve : 0)",
                ])
        }
        let threads = config.eventLoopCount(cores: System.coreCount)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        logger.info("starting", metadata: ["version": "\(ChatServerInfo.version)", "eventLoops": "\(threads)", "pid": "\(getpid())"])
        let environment = ProcessInfo.processInfo.environment
        // Socket activation: systemd's sockets, named by FileDescriptorName= (chat, web, admin).
        let inherited = Systemd.takeListenSockets()
        let chatSockets = inherited.filter { !["admin", "web", "tls", "web-tls", "irc", "irc-tls"].contains($0.name) }.map(\.descriptor)
        let ircSockets = inherited.filter { $0.name == "irc" }.map(\.descriptor)
        let ircTLSSockets = inherited.filter { $0.name == "irc-tls" }.map(\.descriptor)
        let webSockets = inherited.filter { $0.name == "web" }.map(\.descriptor)
        let tlsSockets = inherited.filter { $0.name == "tls" }.map(\.descriptor)
        let webTLSSockets = inherited.filter { $0.name == "web-tls" }.map(\.descriptor)
        let adminSocket = inherited.first { $0.name == "admin" }?.descriptor
        if !inherited.isEmpty {
            logger.info("socket activation", metadata: ["sockets": "\(inherited.map { "\($0.name)=\($0.descriptor)" })"])
        }
        let readiness = Readiness(["chat", "admin"])
        // Before any instrument is made (the history writer's timer), so they all report here.
        let registry = config.metrics.listen.isEmpty ? nil : ChatMetrics.bootstrap()
        // A certificate that cannot be used stops chatd before it listens (exit 78, EX_CONFIG).
        var tls: ServerTLS?
        if config.needsTLS || !tlsSockets.isEmpty || !webTLSSockets.isEmpty || !ircTLSSockets.isEmpty {
            do {
                tls = try ServerTLS(config.tls)
            } catch {
                throw StartupError(error.description, exitCode: 78)
            }
            tls?.logCurrent(logger)
        }
        let stateDirectory = Paths.stateDirectory(configured: config.stateDirectory, environment: environment, uid: getuid())
        if config.history.enabled && config.history.path.isEmpty {
            try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        }
        let history = try await HistoryService.open(config, stateDirectory: stateDirectory, logger: logger)
        // The daemon owns the hub (the chat state) and hands it to each service that needs it.
        IRCServer.current = IRCServerInfo(config, startedAt: Timestamp.now())
        let hub = Hub(
            config: config, group: group, history: history.writer, historyProblem: history.problem, metrics: registry)
        hub.withDirectory { directory in
            directory.continueEventIDs(after: history.newestID)
            directory.scrollbackLines = history.writer == nil ? 0 : config.history.scrollbackLines
            directory.seedScrollback(history.scrollback)
            directory.seedTopics(history.topics)
            if history.writer != nil { directory.seedAccounts(history.accounts) }
        }
        history.service?.pruned.withLock { $0 = { cutoff in _ = hub.withDirectory { $0.forget(before: cutoff) } } }
        let chat = ChatService(
            hub: hub, config: config, group: group, logger: logger, tls: tls, inherited: chatSockets, inheritedWeb: webSockets,
            inheritedTLS: tlsSockets, inheritedWebTLS: webTLSSockets, inheritedIRC: ircSockets,
            inheritedIRCTLS: ircTLSSockets
        ) { _ in
            readiness.ready("chat")
        }

        let banStore = BanStore(stateDirectory: stateDirectory)
        if let problem = banStore.writeProblem() {
            logger.warning(
                "\(problem): bans will take effect but not survive a restart", metadata: ["stateDirectory": "\(banStore.directory)"])
        }
        let (bans, problems) = banStore.load()
        hub.withDirectory { $0.bans = bans }
        if !problems.isEmpty {
            logger.error("some saved bans could not be read", metadata: ["path": "\(banStore.path)", "problems": "\(problems)"])
        }
        if !bans.bans.isEmpty { logger.info("bans loaded", metadata: ["count": "\(bans.bans.count)", "path": "\(banStore.path)"]) }

        let reloader = Reloader(config: config, load: reload, hub: hub, tls: tls, logLevel: logLevel, logger: logger)
        let serviceGroup = Mutex<ServiceGroup?>(nil)
        let control = DaemonControl(hub: hub, reloader: reloader, bans: banStore, logger: logger) {
            guard let services = serviceGroup.withLock({ $0 }) else { return }
            Task { await services.triggerGracefulShutdown() }
        }
        let admin = AdminService(
            path: Paths.adminSocket(configured: config.admin.socket, environment: environment, uid: getuid()), group: group,
            control: control,
            adminGroup: { reloader.config.admin.group }, logger: logger, inherited: adminSocket
        ) { _ in readiness.ready("admin") }
        let hangup = await ReloadOnHangup(reloader: reloader)
        let systemd = SystemdService(readiness: readiness, hub: hub, logger: logger)
        let metrics = registry.map {
            MetricsService(
                metrics: ChatMetrics(registry: $0, control: control, readiness: readiness), addresses: config.metrics.listen, group: group,
                logger: logger)
        }
        // Shut down right to left: tell systemd (STOPPING=1), stop reloading, close the admin
        // socket, then the chat, and last write what history is left.
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: (history.service.map { [$0] } ?? []) + (metrics.map { [$0] } ?? []) + [chat, admin, hangup, systemd],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        serviceGroup.withLock { $0 = services }
        do {
            try await services.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        logger.notice("stopped")
    }

    /// Descriptors chatd needs besides its clients': listeners, the admin socket and its
    /// connections, each loop's epoll and wake-up descriptors, logs and the state files.
    static let openFileReserve: UInt64 = 64

    /// Raises the soft open-file limit to the hard one, as ngIRCd does: each client is a file.
    /// Returns the limit then in force.
    static func raiseOpenFileLimit(logger: Logger) -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            let old = limit.rlim_cur
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                logger.debug("raised the open-file limit", metadata: ["from": "\(old)", "to": "\(limit.rlim_max)"])
            } else {
                limit.rlim_cur = old
            }
        }
        return UInt64(limit.rlim_cur)
    }
}

extension Config {
    /// Reads and validates the config file at `path`.
    public static func load(path: String) -> Result<Config, ConfigError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it (permission denied?)" : "no such file"
            return .failure(ConfigError([ConfigIssue(path: "", message: "\(path): \(reason)")]))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ConfigError([ConfigIssue(path: "", message: "\(path): not UTF-8 text")]))
        }
        return parse(text)
    }
}

/// A problem that keeps the daemon from starting, with a message for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String
    /// The exit status: 1, or 78 (EX_CONFIG) for a problem with the configuration or a file it names.
    public var exitCode: Int32

    public init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

public enum ChatServerInfo {
    public static let version = ChatdVersion.current
}
