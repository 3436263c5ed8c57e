import ChatCore
import FoundationEssentials
import Glibc

/// One admin request over the daemon's Unix socket, and its response. Blocking and
/// single-shot: chatctl sends one line and reads one line.
struct AdminClient {
    let path: String
    let timeout: Double

    enum Failure: Error {
        /// No daemon there (exit 69).
        case unreachable(String)
        /// The socket refused us (exit 77).
        case permissionDenied(String)
        /// The daemon answered something that is not a response (exit 70).
        case protocolError(String)
    }

    /// Says plainly what is at `path` when it is not a socket, and will not talk to a socket in
    /// the per-user fallback directory under /tmp unless that directory is this user's own and
    /// nobody else's to write: another user could have made it first and be listening there.
    private func checkPath() throws(Failure) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // connect says why (no such file)
        switch info.st_mode & S_IFMT {
        case S_IFSOCK: break
        case S_IFDIR: throw .unreachable("\(path) is a directory, not chatd's admin socket (the socket is usually admin.sock inside it)")
        default: throw .unreachable("\(path) is not a socket, so not chatd's admin socket")
        }
        guard Paths.isFallbackAdminSocket(path, uid: getuid()) else { return }
        let directory = String(path.dropLast("/admin.sock".count))
        var folder = stat()
        guard lstat(directory, &folder) == 0 else { return }
        if let problem = Paths.unsafeSocketDirectory(directory, owner: folder.st_uid, mode: folder.st_mode, uid: getuid()) {
            throw .unreachable("refusing to use \(path): \(problem)")
        }
    }

    func send(_ request: AdminRequest) throws(Failure) -> AdminResponse {
        try checkPath()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .unreachable("cannot create a socket: \(Self.errorText(errno))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .unreachable("the socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            let code = errno
            switch code {
            case EACCES, EPERM:
                throw .permissionDenied("cannot connect to \(path): permission denied")
            case ENOENT:
                throw .unreachable("cannot connect to \(path): no such file — is chatd running?")
            case ECONNREFUSED:
                throw .unreachable("cannot connect to \(path): connection refused — is chatd running?")
            default:
                throw .unreachable("cannot connect to \(path): \(Self.errorText(code))")
            }
        }
        let line = request.encoded()
        var sent = 0
        var sendError: Int32?
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else {
                // The daemon may have answered and closed already (e.g. a refusal): read that.
                sendError = errno
                break
            }
            sent += n
        }
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while !received.contains(UInt8(ascii: "\n")) {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw .unreachable("chatd did not answer within \(Int(timeout)) seconds") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(remaining * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else {
                if received.isEmpty {
                    let reason = sendError.map { "lost the connection to \(path) while sending: \(Self.errorText($0))" }
                    throw .unreachable(reason ?? "chatd closed the connection without answering")
                }
                break
            }
            received += chunk[..<n]
        }
        let responseLine = Array(received.prefix { $0 != UInt8(ascii: "\n") })
        guard let response = AdminResponse.parse(responseLine) else {
            throw .protocolError(
                "chatd sent something that is not an admin response: \(String(decoding: responseLine.prefix(200), as: UTF8.self))")
        }
        return response
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
