import ChatCore
import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The admin socket: a Unix stream socket speaking `AdminProtocol`, one request per line.
///
/// Who may use it is decided from the peer's credentials (SO_PEERCRED): root, the daemon's own
/// user, and members of the configured admin group. Anything malformed gets an error reply; a
/// request over `AdminProtocol.maxRequestBytes` or a client silent for `idleTimeout` is closed.
/// Nothing on this socket can disturb the chat loops: requests run as tasks, and reach the chat
/// state only through the hub's short critical sections.
final class AdminService: Service {
    private let path: String
    private let group: MultiThreadedEventLoopGroup
    private let control: DaemonControl
    private let adminGroup: @Sendable () -> String
    private let logger: Logger
    private let onListening: @Sendable (String) -> Void
    /// The admin socket passed by systemd (socket activation), if any: used as it is, and left
    /// in place on exit, since systemd owns it.
    private let inherited: Int32?
    static let idleTimeout = TimeAmount.seconds(30)

    init(
        path: String, group: MultiThreadedEventLoopGroup, control: DaemonControl, adminGroup: @escaping @Sendable () -> String,
        logger: Logger, inherited: Int32? = nil, onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.inherited = inherited
        self.path = path
        self.group = group
        self.control = control
        self.adminGroup = adminGroup
        self.logger = logger
        self.onListening = onListening
    }

    func run() async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let bootstrap = ServerBootstrap(group: group).serverChannelOption(.backlog, value: 64)
        let location: String
        if let inherited {
            do {
                server = try await bootstrap.bind(inherited, childChannelInitializer: initializer)
            } catch {
                throw StartupError("cannot use the admin socket systemd passed (fd \(inherited)): \(error)")
            }
            location = server.channel.localAddress?.pathname ?? "the socket passed by systemd"
        } else {
            try Self.prepare(path)
            do {
                server = try await bootstrap.bind(
                    unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
            } catch {
                throw StartupError("cannot listen on the admin socket \(path): \(error)")
            }
            setPermissions()
            location = path
        }
        defer { if inherited == nil { unlink(path) } }
        logger.notice("admin socket listening on \(location)")
        onListening(location)

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        tasks.addTask { await self.serve(connection) }
                    }
                }
                tasks.cancelAll()  // the listener closed: end open admin sessions too
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        logger.debug("admin socket closed")
    }

    // MARK: One admin connection

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let credentials = await Self.peerCredentials(connection.channel)
        var logger = self.logger
        logger[metadataKey: "admin.uid"] = "\(credentials.map { String($0.uid) } ?? "unknown")"
        try? await connection.executeThenClose { inbound, outbound in
            var framer = LineFramer(maxLineBytes: AdminProtocol.maxRequestBytes)
            if let refusal = authorize(credentials) {
                // Refuse the first request (echoing its id), so the client reads the reason
                // rather than finding the connection already gone.
                logger.warning(
                    "admin request refused: permission denied", metadata: ["admin.pid": "\(credentials.map { String($0.pid) } ?? "")"])
                var id: String?
                requests: for try await buffer in inbound {
                    var lines: [LineFramer.Output] = []
                    buffer.withUnsafeReadableBytes { bytes in framer.feed(bytes) { lines.append($0) } }
                    for case .line(let line) in lines {
                        switch AdminRequest.parse(line) {
                        case .success(let request): id = request.id
                        case .failure(let failure): id = failure.id
                        }
                        break requests
                    }
                    if lines.contains(.overlong) { break }
                }
                try await outbound.write(ByteBuffer(bytes: AdminResponse(id: id, .failure(refusal)).encoded()))
                return
            }
            for try await buffer in inbound {
                var lines: [LineFramer.Output] = []
                buffer.withUnsafeReadableBytes { bytes in framer.feed(bytes) { lines.append($0) } }
                for output in lines {
                    switch output {
                    case .line(let line):
                        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
                        let response = await respond(to: line, logger: logger)
                        try await outbound.write(ByteBuffer(bytes: response.encoded()))
                    case .overlong:
                        let failure = AdminFailure(.tooLarge, "A request may be at most \(AdminProtocol.maxRequestBytes) bytes; closing.")
                        try await outbound.write(ByteBuffer(bytes: AdminResponse(id: nil, .failure(failure)).encoded()))
                        return
                    case .reply:
                        break  // telnet negotiation has no place here; ignore it
                    case .notText:
                        let failure = AdminFailure(.badRequest, "Binary data is not an admin request; closing.")
                        try await outbound.write(ByteBuffer(bytes: AdminResponse(id: nil, .failure(failure)).encoded()))
                        return
                    }
                }
            }
        }
    }

    private func respond(to line: [UInt8], logger: Logger) async -> AdminResponse {
        switch AdminRequest.parse(line) {
        case .failure(let failure):
            logger.info("malformed admin request", metadata: ["error": "\(failure.message)"])
            return AdminResponse(id: failure.id, .failure(failure))
        case .success(let request):
            logger.info("admin request", metadata: ["command": "\(request.command.name)"])
            return AdminResponse(id: request.id, await control.execute(request.command))
        }
    }

    // MARK: Authorization

    /// Laid out as Linux's `struct ucred` (pid_t, uid_t, gid_t), which Swift's Glibc module
    /// does not export.
    struct Credentials: Sendable {
        var pid: Int32
        var uid: UInt32
        var gid: UInt32
    }

    static func peerCredentials(_ channel: any Channel) async -> Credentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return try? await future.get()
    }

    /// Nil when the peer may use the socket; else the refusal it gets.
    private func authorize(_ credentials: Credentials?) -> AdminFailure? {
        let group = adminGroup()
        if let credentials {
            if credentials.uid == 0 || credentials.uid == getuid() { return nil }
            if !group.isEmpty, let gid = Self.groupID(group), Self.groups(of: credentials).contains(gid) { return nil }
        }
        let me = Self.userName(getuid()) ?? "uid \(getuid())"
        let who = group.isEmpty ? "root and \(me) (chatd's own user)" : "root, \(me) (chatd's own user) and members of group \(group)"
        return AdminFailure(.permissionDenied, "Permission denied: only \(who) may use the admin socket.")
    }

    static func groupID(_ name: String) -> UInt32? {
        if let number = UInt32(name) { return number }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    static func userName(_ uid: UInt32) -> String? {
        getpwuid(uid).map { String(cString: $0.pointee.pw_name) }
    }

    /// The peer's primary and supplementary groups.
    static func groups(of credentials: Credentials) -> [UInt32] {
        guard let name = userName(credentials.uid) else { return [credentials.gid] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, credentials.gid, &groups, &count) == -1 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, credentials.gid, &groups, &count)
        }
        return Array(groups.prefix(Int(max(0, count)))) + [credentials.gid]
    }

    // MARK: The socket file

    /// Makes the socket's directory, refuses one that others could write to, and clears a stale
    /// socket left by a crash, but only when nothing listens on it.
    static func prepare(_ path: String) throws {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        if !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        var folder = stat()
        guard lstat(directory, &folder) == 0 else {
            throw StartupError("cannot use \(directory) for the admin socket: \(String(cString: strerror(errno)))")
        }
        if let problem = Paths.unsafeSocketDirectory(directory, owner: folder.st_uid, mode: folder.st_mode, uid: geteuid()) {
            throw StartupError("refusing to put the admin socket in \(directory): \(problem); remove it, or set admin.socket")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError("\(path) exists and is not a socket; remove it or choose another admin.socket")
        }
        if isListening(path) {
            throw StartupError("another process is already listening on the admin socket \(path) (is chatd already running?)")
        }
        unlink(path)
    }

    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }

    /// Mode 0660, group-owned by the admin group when one is configured (so its members can
    /// connect).
    private func setPermissions() {
        chmod(path, 0o660)
        let group = adminGroup()
        guard !group.isEmpty else { return }
        guard let gid = Self.groupID(group) else {
            logger.warning("admin.group \(group) does not exist; only root and chatd's own user can use the admin socket")
            return
        }
        if chown(path, UInt32.max, gid) != 0 {
            logger.warning("cannot give the admin socket to group \(group): \(String(cString: strerror(errno)))")
        }
    }
}

/// Closes an admin connection that sent nothing for `AdminService.idleTimeout`.
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
