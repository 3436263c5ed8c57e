import Foundation
import Glibc
import Synchronization

/// A child process spawned directly with posix_spawn: a clean signal mask and default signal
/// dispositions (so it sees SIGTERM and SIGCHLD like any daemon under a service manager), its
/// stdout and stderr into `output`, and its exit reaped by a thread of its own.
///
/// Foundation's Process is not used for daemons because it watches a child through an inherited
/// descriptor: a launcher that closes inherited descriptors (systemd-socket-activate does) makes
/// it wait for the child blocking a thread every other Process needs.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let exit = ExitCode()
    private let output: LogBuffer

    /// With `journal`, JOURNAL_STREAM names the output pipe, as systemd does when stderr is
    /// the journal. `stdin`, when given, is the child's standard input.
    init(_ argv: [String], environment: [String: String], output: LogBuffer, journal: Bool = false, stdin: Int32? = nil) throws {
        self.output = output
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe failed: errno \(errno)") }
        // Close-on-exec, so children spawned by other tests meanwhile do not hold the pipe open.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var environment = environment
        if journal {
            var info = stat()
            fstat(fds[1], &info)
            environment["JOURNAL_STREAM"] = "\(info.st_dev):\(info.st_ino)"
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw TestFailure("cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        let child = pid
        let readEnd = fds[0]
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(readEnd, &buffer, buffer.count)
                if n <= 0 { break }
                output.append(Data(buffer[..<n]))
            }
            close(readEnd)
            output.end()
        }.start()
        let exit = self.exit
        Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS, or 128 + the signal.
            let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            exit.code.withLock { $0 = code }
            output.append(Data())
        }.start()
    }

    var isRunning: Bool { exit.code.withLock { $0 == nil } }

    /// The exit status (or 128 + signal), once it exited.
    var terminationStatus: Int32? { exit.code.withLock { $0 } }

    /// Set by the reaper thread.
    private final class ExitCode: Sendable {
        let code = Mutex<Int32?>(nil)
    }
}
