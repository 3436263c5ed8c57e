import ChatCore
import FoundationEssentials
import Glibc

/// The ban list's file (`bans.json` in the state directory): read at start, rewritten
/// atomically (a temporary file, synced, renamed over it) after every change. Its errors are
/// plain sentences naming the path and the system's reason.
struct BanStore: Sendable {
    let directory: String
    let path: String

    init(stateDirectory: String) {
        directory = stateDirectory
        path = stateDirectory + "/bans.json"
    }

    /// A problem writing to the state directory, said the way `save` would fail, or nil: made
    /// at start-up, so the operator hears of it before the first ban does.
    func writeProblem() -> String? {
        do {
            try makeDirectory()
            let probe = directory + "/.chatd-write-check"
            let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StartupError("cannot write in \(directory): \(Self.reason(errno))") }
            close(fd)
            unlink(probe)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The saved bans (none when there is no file yet), and any entries that could not be read.
    func load() -> (BanList, problems: [String]) {
        guard let data = FileManager.default.contents(atPath: path) else { return (BanList(), []) }
        return BanList.load(String(decoding: data, as: UTF8.self))
    }

    func save(_ list: BanList) throws {
        try makeDirectory()
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StartupError("cannot write \(temporary): \(Self.reason(errno))") }
        let bytes = Array(list.fileContents.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                throw StartupError("cannot write \(temporary): \(Self.reason(code))")
            }
            written += n
        }
        let synced = fsync(fd) == 0 ? 0 : errno
        close(fd)
        guard synced == 0 else {
            unlink(temporary)
            throw StartupError("cannot write \(temporary): \(Self.reason(synced))")
        }
        guard rename(temporary, path) == 0 else { throw StartupError("cannot replace \(path): \(Self.reason(errno))") }
    }

    /// The state directory, made (mode 0750) with its parents if missing.
    private func makeDirectory() throws {
        var parts: [Substring] = []
        for part in directory.split(separator: "/") {
            parts.append(part)
            let prefix = "/" + parts.joined(separator: "/")
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw StartupError("cannot create the state directory \(directory): \(Self.reason(errno)) (at \(prefix))")
            }
        }
        var info = stat()
        guard stat(directory, &info) == 0 else { throw StartupError("cannot use the state directory \(directory): \(Self.reason(errno))") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw StartupError("the state directory \(directory) is not a directory") }
    }

    private static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
