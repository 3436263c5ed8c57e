import ChatCore
import Foundation
import Glibc

/// A plain TCP client, as telnet or nc would be: writes bytes, reads CRLF- or LF-ended lines.
/// Every read has a deadline, so a test that expects a line that never comes fails instead of
/// hanging.
final class Client: @unchecked Sendable {  // used by one thread at a time: a test may hand it to a reader thread
    let fd: Int32
    private var buffer: [UInt8] = []
    private var eof = false
    /// Lines received so far that no `expect` consumed.
    private(set) var received: [String] = []

    /// Connects to `host:port`, from `source` when given (another loopback address, e.g. 127.0.0.2).
    init(port: Int, host: String = "127.0.0.1", source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw TestFailure("cannot bind to \(source): errno \(errno)") }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("cannot connect to \(host):\(port): errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// A client of a Unix-domain socket (the admin socket), with the same line reading.
    init(unixPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(unixPath)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("cannot connect to \(unixPath): errno \(errno)")
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Sends `text` followed by CRLF, as telnet does.
    func line(_ text: String) throws { try send(text + "\r\n") }

    /// The next line (terminator removed, raw bytes), or nil at end of stream.
    func readRawLine(timeout: Double = 10) throws -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            if eof { return nil }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                throw TestFailure("timed out waiting for a line; have \(received) + partial \(String(decoding: buffer, as: UTF8.self))")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(remaining * 1000) + 1)
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 {
                eof = true
            } else {
                buffer.append(contentsOf: chunk[..<n])
            }
        }
    }

    /// Exactly `count` bytes, or nil if the stream ends first.
    func readBytes(_ count: Int, timeout: Double = 10) throws -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while buffer.count < count {
            if eof { return nil }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw TestFailure("timed out waiting for \(count) bytes; have \(buffer.count)") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(remaining * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { eof = true } else { buffer.append(contentsOf: chunk[..<n]) }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    /// The next line as text.
    func readLine(timeout: Double = 10) throws -> String? {
        try readRawLine(timeout: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads lines until one satisfies `match`; returns it. Lines read on the way are kept in
    /// `received`. Fails at end of stream or after `timeout`.
    @discardableResult
    func expect(timeout: Double = 10, _ description: String = "", _ match: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let line = try readLine(timeout: max(0.01, deadline.timeIntervalSinceNow)) else {
                throw TestFailure("connection closed while waiting for \(description); got \(received)")
            }
            if match(line) { return line }
            received.append(line)
        }
    }

    /// Reads until a line equal to `text`.
    @discardableResult
    func expect(_ text: String, timeout: Double = 10) throws -> String {
        try expect(timeout: timeout, "\"\(text)\"") { $0 == text }
    }

    /// Reads until a line containing `text`.
    @discardableResult
    func expect(containing text: String, timeout: Double = 10) throws -> String {
        try expect(timeout: timeout, "a line containing \"\(text)\"") { $0.contains(text) }
    }

    /// Reads until the server closes the connection; returns the lines read on the way.
    func readUntilClosed(timeout: Double = 10) throws -> [String] {
        var lines: [String] = []
        while let line = try readLine(timeout: timeout) { lines.append(line) }
        return lines
    }

    /// Reads the greeting and nick prompt, registers as `nick`, and reads up to the member list.
    func register(_ nick: String, prompted: Bool = false) throws {
        if !prompted { try expect("*** Please choose a nickname:") }
        try line(nick)
        try expect(containing: "You are now known as \(nick)")
        try expect(timeout: 10, "the member list") { $0.hasPrefix("*** #") && $0.contains("user") }
    }

    /// Reads JSON lines until one whose `type` is `type` (skipping text greeting lines).
    @discardableResult
    func expectJSON(type: String, timeout: Double = 10, where match: (JSONObject) -> Bool = { _ in true }) throws -> JSONObject {
        var found: JSONObject?
        try expect(timeout: timeout, "a JSON \(type) event") { line in
            guard line.hasPrefix("{"), case .object(let object) = try? JSONValue.parse(line), object["type"] == .string(type),
                match(object)
            else { return false }
            found = object
            return true
        }
        return found!
    }

    /// Half-closes nothing: shuts the socket down abruptly (RST when unread data is pending).
    func abort() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Proves no other line is waiting: the server answers a ping after everything queued for
    /// this client before it, so the next line must be the pong. Call it once the event that
    /// must not reach this client is known to have been routed (another client received it).
    func expectNothingElse(json: Bool = false, timeout: Double = 10) throws {
        let token = "sync\(UInt32.random(in: 0...UInt32.max))"
        if json {
            try send("{\"type\":\"ping\",\"token\":\"\(token)\"}\n")
        } else {
            try line("/ping \(token)")
        }
        let next = try readLine(timeout: timeout)
        let pong = json ? "\"token\":\"\(token)\"" : "*** pong \(token)"
        guard let next, next.contains(pong) else {
            throw TestFailure("expected only the pong, got: \(next ?? "end of stream")")
        }
    }
}

/// A `sockaddr_un` for `path`.
func unixAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return address
}
