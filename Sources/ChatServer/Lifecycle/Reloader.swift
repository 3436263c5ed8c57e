import ChatCore
import Logging
import ServiceLifecycle
import Synchronization
import Systemd
import UnixSignals

/// What a reload changed.
public struct ReloadReport: Sendable {
    /// Keys whose new values are in force.
    public var applied: [String]
    /// Keys whose new values wait for a restart (the old ones stay in force).
    public var restartRequired: [String]
}

/// Re-reads the configuration and applies what can change while running. A broken new
/// configuration is refused whole, and the old one keeps serving.
final class Reloader: Sendable {
    private let load: @Sendable () -> Result<Config, ConfigError>
    /// The configuration in force (restart-only keys keep their start-up values).
    private let current: Mutex<Config>
    private let hub: Hub
    /// Re-read on every reload (a renewed certificate keeps its path).
    private let tls: ServerTLS?
    private let logLevel: LogLevelControl
    private let logger: Logger

    init(
        config: Config, load: @escaping @Sendable () -> Result<Config, ConfigError>, hub: Hub, tls: ServerTLS? = nil,
        logLevel: LogLevelControl, logger: Logger
    ) {
        self.current = Mutex(config)
        self.load = load
        self.hub = hub
        self.tls = tls
        self.logLevel = logLevel
        self.logger = logger
    }

    var config: Config { current.withLock { $0 } }

    /// Reloads, telling systemd `RELOADING=1` before and `READY=1` after, whatever the outcome.
    func reload() -> Result<ReloadReport, ConfigError> {
        Systemd.notify("RELOADING=1", Systemd.monotonicMicroseconds, "STATUS=Reloading the configuration")
        let result = apply()
        switch result {
        case .success:
            Systemd.notify("READY=1", "STATUS=\(SystemdService.status(hub))")
        case .failure(let error):
            let first = error.issues.first.map(\.description) ?? "invalid"
            Systemd.notify("READY=1", "STATUS=Reload failed (\(first)); still running the previous configuration")
        }
        return result
    }

    private func apply() -> Result<ReloadReport, ConfigError> {
        let loaded: Config
        switch load() {
        case .failure(let error):
            logger.error("reload refused: the new configuration is invalid; the old one stays in force", metadata: ["problems": "\(error)"])
            return .failure(error)
        case .success(let config): loaded = config
        }
        if let tls {
            // A certificate or key that cannot be used refuses the whole reload: the running
            // context, and configuration, stay.
            do {
                try tls.reload(loaded.tls, logger: logger)
            } catch {
                let refused = ConfigError([ConfigIssue(path: error.key, message: error.reason)])
                logger.error(
                    "reload refused: the TLS certificate or key cannot be used; the old ones stay in force",
                    metadata: ["problem": "\(error)"])
                return .failure(refused)
            }
        }
        let defaultRoom = loaded.defaultRoomName
        let report = current.withLock { config -> ReloadReport in
            let changed = loaded.changedKeys(from: config)
            let restart = changed.filter(Config.restartKeys.contains)
            var next = loaded
            // Keep what cannot change live at its running value.
            next.listen = config.listen
            next.eventLoops = config.eventLoops
            next.admin.socket = config.admin.socket
            next.stateDirectory = config.stateDirectory
            config = next
            return ReloadReport(applied: changed.filter { !Config.restartKeys.contains($0) }, restartRequired: restart)
        }
        hub.update(ConnectionSettings(loaded), defaultRoom: defaultRoom)
        IRCServer.current = IRCServerInfo(loaded, startedAt: IRCServer.current.createdAt)
        logLevel.level = Logger.Level(rawValue: loaded.logging.level) ?? .info
        logger.notice(
            "configuration reloaded",
            metadata: [
                "applied": "\(report.applied.joined(separator: ","))",
                "restartRequired": "\(report.restartRequired.joined(separator: ","))",
            ])
        if !report.restartRequired.isEmpty {
            logger.warning("some changed keys take effect only after a restart: \(report.restartRequired.joined(separator: ", "))")
        }
        return .success(report)
    }
}

/// Reloads on SIGHUP, as `systemctl reload` and `kill -HUP` expect.
final class ReloadOnHangup: Service {
    private let reloader: Reloader
    private let signals: UnixSignalsSequence

    /// Trapping starts here, so a SIGHUP that arrives early does not kill the daemon.
    init(reloader: Reloader) async {
        self.reloader = reloader
        self.signals = await UnixSignalsSequence(trapping: .sighup)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.signals {
                _ = self.reloader.reload()
            }
        }
    }
}
