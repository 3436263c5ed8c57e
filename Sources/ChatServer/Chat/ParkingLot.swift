import CLinux
import ChatCore
import Glibc
import Logging
import NIOCore
import Synchronization

/// One thread and one epoll instance for the sockets that are not on an event loop: the
/// listeners, chat and web (it accepts), and the parked connections (it notices when one has something to
/// say, or hangs up).
///
/// An idle registered client costs a NIO `Channel` (about 2 KiB of NIO's own state) and its
/// handler while it sits on an event loop. Parked, it is a socket in this epoll set plus a few
/// hundred bytes of state in its shard, and the event loops do not see it at all. Traffic for
/// it is still written straight to its socket by its shard; the first byte it sends (or its
/// hang-up) brings it back onto its loop with everything as it was.
///
/// Accepting here rather than through NIO's server channel is what makes parking possible: a
/// connection created with `withConnectedSocket` has a descriptor chatd knows, so it can take
/// the socket back (a `dup`) when it parks the connection. It also pauses accepting for a second
/// when the process is out of descriptors: NIO's server channel keeps retrying `accept` then
/// (its read stays pending after EMFILE, so `AcceptBackoffHandler` never gets to act), which
/// spins an event loop. So the web listeners are accepted here too.
final class ParkingLot: Sendable {
    /// A ready parked connection: its shard and session.
    typealias Ready = @Sendable (_ shard: Int, _ id: SessionID) -> Void
    /// A new connection's socket (non-blocking, close-on-exec), to hand to an event loop, and
    /// which kind of listener took it.
    typealias Accepted = @Sendable (_ descriptor: Int32, _ kind: ListenerKind) -> Void

    private enum Tag {
        static let wake: UInt64 = 0xFE << 56
        static let listener: UInt64 = 0xFF << 56
        static let idMask: UInt64 = (1 << 56) - 1
    }

    private enum Command {
        case closeListeners(@Sendable () -> Void)
        case stop
    }

    private let epoll: Int32
    private let wake: (read: Int32, write: Int32)
    /// Commands for the lot's thread; nil once the thread has ended (commands then run at once,
    /// on the caller's thread, so that shutdown never waits on a thread that is gone).
    private let commands = Mutex<[Command]?>([])
    /// Set once the epoll instance and the wake pipe are closed (`stop`, once only).
    private let closed = Atomic<Bool>(false)
    /// Touched by the lot's thread only, after `start`.
    private let listeners: Mutex<[Int32: ListenerKind]>
    private let accepted: Accepted
    private let ready: Ready
    private let logger: Logger

    /// Takes ownership of `listeners` (listening sockets); they are closed by `closeListeners`.
    init(listeners: [Int32: ListenerKind], logger: Logger, accepted: @escaping Accepted, ready: @escaping Ready) throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemCallError("epoll_create1", errno) }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            close(epoll)
            throw SystemCallError("pipe2", code)
        }
        wake = (pipeEnds[0], pipeEnds[1])
        for end in pipeEnds {
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        self.listeners = Mutex(listeners)
        self.accepted = accepted
        self.ready = ready
        self.logger = logger
        try Self.control(epoll, EPOLL_CTL_ADD, wake.read, events: EPOLLIN.rawValue, tag: Tag.wake)
        for listener in listeners.keys {
            try Self.control(epoll, EPOLL_CTL_ADD, listener, events: EPOLLIN.rawValue, tag: Tag.listener | UInt64(listener))
        }
    }

    func start() {
        // A plain pthread, named so `top -H` shows it: the lot blocks in epoll_wait, never on a NIO loop.
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                let lot = Unmanaged<ParkingLot>.fromOpaque(raw!).takeRetainedValue()
                clinux_name_thread("chatd-parking")
                lot.run()
                return nil
            }, box.toOpaque())
        if created == 0 {
            pthread_detach(thread)
        } else {
            box.release()
            logger.critical("the parking thread did not start", metadata: ["errno": "\(created)"])
        }
    }

    /// Watches a parked connection's socket until it is readable or hangs up, once; then
    /// `ready(shard, id)` is called (on the lot's thread). False if it cannot be watched.
    func watch(_ descriptor: Int32, shard: Int, id: SessionID) -> Bool {
        let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        return (try? Self.control(epoll, EPOLL_CTL_ADD, descriptor, events: events, tag: UInt64(shard) << 56 | (id.value & Tag.idMask)))
            != nil
    }

    /// Stops watching a socket (before it goes back to an event loop).
    func unwatch(_ descriptor: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Stops accepting: closes the listening sockets. Returns once they are closed.
    func closeListeners() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            send(.closeListeners { done.resume() })
        }
    }

    /// Ends the thread; its epoll instance is closed. Parked sockets must have been taken back.
    func stop() { send(.stop) }

    private func send(_ command: Command) {
        let queued = commands.withLock { pending in
            pending?.append(command)
            return pending != nil
        }
        if queued {
            var byte: UInt8 = 1
            _ = write(wake.write, &byte, 1)
        } else {
            _ = perform(command)
        }
    }

    // MARK: The lot's thread

    /// How long accepting pauses when the process is out of descriptors or memory (as NIO's
    /// `AcceptBackoffHandler` does): the pending connections wait in the listen backlog.
    private static let acceptBackoffNanoseconds: Int64 = 1_000_000_000

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var acceptPausedUntil: Int64?
        var lastResourceWarning: Int64 = 0
        while true {
            var timeout: Int32 = -1
            if let until = acceptPausedUntil { timeout = Int32(max(0, until - Hub.monotonicNow) / 1_000_000) + 1 }
            let count = epoll_wait(epoll, &events, Int32(events.count), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                logger.critical("the parking lot's epoll_wait failed; parked clients are no longer served", metadata: ["errno": "\(errno)"])
                endCommands()
                return
            }
            if let until = acceptPausedUntil, Hub.monotonicNow >= until {
                acceptPausedUntil = nil
                for listener in listeners.withLock({ $0.keys }) {
                    try? Self.control(epoll, EPOLL_CTL_MOD, listener, events: EPOLLIN.rawValue, tag: Tag.listener | UInt64(listener))
                }
            }
            for event in events[0..<Int(count)] {
                let tag = event.data.u64
                switch tag & ~Tag.idMask {
                case Tag.wake:
                    if !runCommands() { return }
                case Tag.listener:
                    let listener = Int32(truncatingIfNeeded: tag & Tag.idMask)
                    guard let kind = listeners.withLock({ $0[listener] }), let error = acceptAll(listener, kind) else { continue }
                    // Out of descriptors or memory: stop accepting for a moment rather than spin.
                    acceptPausedUntil = Hub.monotonicNow + Self.acceptBackoffNanoseconds
                    for listener in listeners.withLock({ $0.keys }) {
                        try? Self.control(epoll, EPOLL_CTL_MOD, listener, events: 0, tag: Tag.listener | UInt64(listener))
                    }
                    if Hub.monotonicNow - lastResourceWarning > 10_000_000_000 {
                        lastResourceWarning = Hub.monotonicNow
                        logger.warning(
                            "cannot accept connections: \(String(cString: strerror(error))); pausing accepts for a second",
                            metadata: ["hint": "raise LimitNOFILE= or limits.maxClients accordingly"])
                    }
                default:
                    ready(Int(tag >> 56), SessionID(tag & Tag.idMask))
                }
            }
        }
    }

    /// Accepts what the listener has (a bounded batch, so parked clients are not starved).
    /// Returns the errno when accepting must pause for lack of resources.
    private func acceptAll(_ listener: Int32, _ kind: ListenerKind) -> Int32? {
        for _ in 0..<128 {
            let descriptor = clinux_accept4(listener, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
            if descriptor >= 0 {
                accepted(descriptor, kind)
                continue
            }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO, EPERM: continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM: return errno
            default: return nil  // EAGAIN: all taken
            }
        }
        return nil
    }

    /// Carries out queued commands; false when the thread must end.
    private func runCommands() -> Bool {
        var byte: UInt8 = 0
        while read(wake.read, &byte, 1) > 0 {}
        var running = true
        for command in commands.withLock({ pending in
            defer { pending?.removeAll() }; return pending ?? []
        }) {
            if !perform(command) { running = false }
        }
        if !running { endCommands() }
        return running
    }

    /// The thread is ending: what is still queued runs now, and later commands run at once on
    /// their caller's thread (`send`), so no caller waits on a thread that is gone.
    private func endCommands() {
        for command in commands.withLock({ pending in
            defer { pending = nil }; return pending ?? []
        }) {
            _ = perform(command)
        }
    }

    /// Carries out one command; false for `stop`.
    private func perform(_ command: Command) -> Bool {
        switch command {
        case .closeListeners(let done):
            for listener in listeners.withLock({ list in
                defer { list.removeAll() }; return list
            }).keys {
                _ = epoll_ctl(epoll, EPOLL_CTL_DEL, listener, nil)
                close(listener)
            }
            done()
            return true
        case .stop:
            guard !closed.exchange(true, ordering: .relaxed) else { return false }
            close(epoll)
            close(wake.read)
            close(wake.write)
            return false
        }
    }

    private static func control(_ epoll: Int32, _ operation: Int32, _ descriptor: Int32, events: UInt32, tag: UInt64) throws {
        var event = epoll_event()
        event.events = events
        event.data.u64 = tag
        guard epoll_ctl(epoll, operation, descriptor, &event) == 0 else { throw SystemCallError("epoll_ctl", errno) }
    }
}

/// Listening sockets for the chat and web ports, made here rather than by NIO's `ServerBootstrap`
/// because the parking lot accepts (see `ParkingLot`).
enum Listening {
    /// Binds and listens on `host:port`; returns the socket and the address it is bound to.
    static func bind(host: String, port: Int, backlog: Int32 = 1024) throws -> (descriptor: Int32, address: SocketAddress) {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = address.protocol.rawValue
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemCallError("socket", errno) }
        do {
            var one: Int32 = 1
            guard setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw SystemCallError("setsockopt(SO_REUSEADDR)", errno)
            }
            let bound = address.withSockAddr { Glibc.bind(descriptor, $0, socklen_t($1)) }
            guard bound == 0 else { throw SystemCallError("bind", errno) }
            guard listen(descriptor, backlog) == 0 else { throw SystemCallError("listen", errno) }
            return (descriptor, try localAddress(of: descriptor))
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// Makes a listening socket passed by systemd non-blocking; returns the address it is bound to.
    static func adopt(_ descriptor: Int32) throws -> SocketAddress {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SystemCallError("fcntl", errno) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return try localAddress(of: descriptor)
    }

    static func localAddress(of descriptor: Int32) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0 else { throw SystemCallError("getsockname", errno) }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(address, host: "")
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(address, host: "")
        default:
            throw SystemCallError("a chat socket must be TCP over IPv4 or IPv6", EAFNOSUPPORT)
        }
    }
}

/// A failed system call, said as the system says it: `bind: Address already in use`.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let code: Int32

    init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    /// The reason alone (`Address already in use`), for messages that already say what was tried.
    var reason: String { String(cString: strerror(code)) }
    var description: String { "\(call): \(reason)" }
}
