import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// The daemon's log level, shared by every logger so a reload can change it live.
public final class LogLevelControl: Sendable {
    private let raw: Atomic<Int>

    public init(_ level: Logger.Level) { raw = Atomic(Self.index(level)) }

    public var level: Logger.Level {
        get { Logger.Level.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.index(newValue), ordering: .relaxed) }
    }

    private static func index(_ level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level) ?? 2 }
}

/// Writes one line per log event to stderr, at the level `LogLevelControl` says now.
///
/// When stderr is the journal (`Systemd.stderrIsJournal`), each line starts with the syslog
/// priority as `<N>` so journald files it at the right level, and carries no timestamp (journald
/// adds its own): `<4>warning: key=value message`. Otherwise it is a plain line with a UTC
/// timestamp: `2026-11-21T23:59:59Z warning: key=value message`.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private let control: LogLevelControl
    private let journal: Bool

    public init(label: String, control: LogLevelControl, journal: Bool = Systemd.stderrIsJournal) {
        self.control = control
        self.journal = journal
    }

    /// The syslog priority journald files a level under.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public var logLevel: Logger.Level {
        get { control.level }
        set {}  // the level is the daemon's, set through the control
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let body = "\(event.level): \(fields.isEmpty ? "" : fields + " ")\(event.message)"
        // One line per event: a message with newlines would split into several journal entries.
        let flat = body.contains("\n") ? body.split(separator: "\n").joined(separator: " | ") : body
        let line = journal ? "<\(Self.priority(event.level))>\(flat)\n" : "\(Self.timestamp()) \(flat)\n"
        var stderr = StandardError()
        stderr.write(line)
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

/// stderr as a `TextOutputStream`: each string goes out in as few `write(2)` calls as the
/// kernel allows, so a log line is never interleaved with another's.
public struct StandardError: TextOutputStream {
    public init() {}

    public mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
