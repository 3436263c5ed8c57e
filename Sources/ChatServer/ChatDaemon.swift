import ChatCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The whole daemon: event loops, services, signals. `chatd` builds a `Config` and calls `run`.
public enum ChatDaemon {
    /// Runs until SIGTERM or SIGINT, then shuts down gracefully. Throws `StartupError` when a
    /// listener cannot be bound.
    public static func run(config: Config, logger: Logger) async throws {
        raiseOpenFileLimit(logger: logger)
        let threads = min(config.eventLoops == 0 ? System.coreCount : config.eventLoops, ShardSet.capacity)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        logger.info("starting", metadata: ["version": "\(ChatServerInfo.version)", "eventLoops": "\(threads)"])
        let chat = ChatService(config: config, group: group, logger: logger)
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [chat],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await services.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        logger.notice("stopped")
    }

    /// Raises the soft open-file limit to the hard one, as ngIRCd does: each client is a file.
    static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            let old = limit.rlim_cur
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                logger.debug("raised the open-file limit", metadata: ["from": "\(old)", "to": "\(limit.rlim_max)"])
            }
        }
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
