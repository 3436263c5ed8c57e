import Foundation
import Glibc

/// A child process whose stdin is a pipe the test writes to, and whose output (stdout and
/// stderr) is collected: `chat` from a script, `openssl s_client`.
class PipedProcess {
    let process: ChildProcess
    let output = LogBuffer()
    private let input: Int32

    init(_ argv: [String], environment: [String: String] = [:]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe: errno \(errno)") }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        input = fds[1]
        process = try ChildProcess(
            argv, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            output: output, stdin: fds[0])
        close(fds[0])
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
    }

    func closeInput() { close(input) }

    func waitFor(_ text: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !output.text.contains(text) {
            if Date() > deadline { throw TestFailure("\(process.pid) never printed \"\(text)\"; it printed:\n\(output.text)") }
            output.waitForMore(until: Date().addingTimeInterval(0.1))
        }
    }

    /// Waits until the process has exited and everything it printed has been read.
    func waitForExit(timeout: Double = 10) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning || !output.isEnded {
            if Date() > deadline {
                kill(process.pid, SIGKILL)
                throw TestFailure("\(process.pid) did not exit; it printed:\n\(output.text)")
            }
            output.waitForMore(until: Date().addingTimeInterval(0.05))
        }
        return process.terminationStatus ?? -1
    }

    deinit {
        if process.isRunning { kill(process.pid, SIGKILL) }
    }
}
