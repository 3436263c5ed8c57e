import Foundation
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

/// Writes one line per log event to stderr: `LEVEL label: key=value ... message`, at the level
/// `LogLevelControl` says now.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let control: LogLevelControl

    public init(label: String, control: LogLevelControl) {
        self.label = label
        self.control = control
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
        let line = "\(event.level) \(label): \(fields.isEmpty ? "" : fields + " ")\(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
