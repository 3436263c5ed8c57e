import CSystemd
import Glibc

/// chatd's side of systemd's service protocols, over libsystemd (sd-daemon): readiness and
/// status notifications, the watchdog, and socket activation. Every call is a no-op (or returns
/// nothing) when the daemon is not run by systemd.
public enum Systemd {
    /// Sends `NAME=value` assignments to the service manager (`READY=1`, `STATUS=…`, …).
    /// Returns false when there is no manager to tell (NOTIFY_SOCKET unset) or sending failed.
    @discardableResult
    public static func notify(_ assignments: String...) -> Bool {
        notify(assignments)
    }

    @discardableResult
    public static func notify(_ assignments: [String]) -> Bool {
        sd_notify(0, assignments.joined(separator: "\n")) > 0
    }

    /// `MONOTONIC_USEC=…`, the clock reading systemd wants with `RELOADING=1`.
    public static var monotonicMicroseconds: String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return "MONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)"
    }

    /// The watchdog interval systemd expects pings within (WatchdogSec=), or nil when it is off.
    public static var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    /// A socket passed by systemd (socket activation), with its FileDescriptorName=.
    public struct ListenSocket: Sendable {
        public var descriptor: Int32
        public var name: String
    }

    /// Takes the sockets systemd passed (LISTEN_FDS, LISTEN_FDNAMES), once: the variables are
    /// removed so child processes do not inherit them, and the descriptors are marked
    /// close-on-exec.
    public static func takeListenSockets() -> [ListenSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer {
            if let names {
                for i in 0..<Int(count) { free(names[i]) }
                free(names)
            }
        }
        return (0..<count).map { i in
            let descriptor = SD_LISTEN_FDS_START + i
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            let name = names?[Int(i)].map { String(cString: $0) } ?? "unknown"
            return ListenSocket(descriptor: descriptor, name: name)
        }
    }

    /// Whether standard error is connected to the journal (JOURNAL_STREAM names its device and
    /// inode), so log lines should carry `<N>` priority prefixes.
    public static var stderrIsJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
