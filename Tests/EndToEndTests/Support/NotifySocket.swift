import Foundation
import Glibc

/// systemd's side of sd_notify: a datagram socket the daemon sends `READY=1`, `STATUS=…` and
/// the rest to, given to it as NOTIFY_SOCKET.
final class NotifySocket {
    let path: String
    private let fd: Int32
    /// Every message received so far, in order.
    private(set) var messages: [String] = []

    init() throws {
        path = "/tmp/chatd-notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("cannot bind \(path): errno \(errno)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next message (a datagram of `NAME=value` lines), or nil after `timeout` seconds.
    func receive(timeout: Double) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let message = String(decoding: buffer[..<n], as: UTF8.self)
        messages.append(message)
        return message
    }

    /// Receives until a message satisfies `match`; returns it.
    @discardableResult
    func expect(_ description: String, timeout: Double = 10, _ match: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while let message = receive(timeout: max(0, deadline.timeIntervalSinceNow)) {
            if match(message) { return message }
        }
        throw TestFailure("no \(description) within \(timeout)s; got \(messages)")
    }

    /// Every message that arrives within `seconds` (a bounded collection window, for rates).
    func collect(for seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var collected: [String] = []
        while let message = receive(timeout: max(0, deadline.timeIntervalSinceNow)) { collected.append(message) }
        return collected
    }
}
