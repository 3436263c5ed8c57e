import ChatClient
import ChatCore
import Glibc
import NIOSSL

/// A TCP connection to chatd: a non-blocking socket, a read buffer split into lines, and a
/// write buffer drained when the socket allows.
final class Connection {
    let fd: Int32
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    /// TLS over the socket, once started (`startTLS`): what is sent is encrypted, what is read
    /// decrypted.
    private var tls: TLSLayer?
    /// Whether TLS has carried a byte from the server (chatd greets first): a connection that
    /// ends before it never got past the handshake.
    private var tlsEstablished = false
    /// The most a server line may be before it is cut (a broken server cannot eat our memory).
    static let maximumLine = 1 << 20

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Resolves `address` and returns non-blocking sockets with connects started, one per
    /// address found (IPv6 and IPv4), or a sentence saying why there are none.
    static func resolve(_ address: HostAndPort) -> Result<[addrinfo], ConnectionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let list else {
            return .failure(ConnectionError(message: "cannot resolve \(address.host): \(String(cString: gai_strerror(status)))"))
        }
        var result: [addrinfo] = []
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            var copy = current.pointee
            let storage = UnsafeMutableRawPointer.allocate(byteCount: Int(copy.ai_addrlen), alignment: 16)
            storage.copyMemory(from: copy.ai_addr, byteCount: Int(copy.ai_addrlen))
            copy.ai_addr = storage.assumingMemoryBound(to: sockaddr.self)
            copy.ai_next = nil
            copy.ai_canonname = nil
            result.append(copy)
            entry = current.pointee.ai_next
        }
        freeaddrinfo(list)
        return .success(result)
    }

    /// Starts a non-blocking connect to one resolved address.
    static func start(_ info: addrinfo) -> Result<Connection, ConnectionError> {
        let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
        guard fd >= 0 else { return .failure(ConnectionError(errno: errno)) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        let connection = Connection(fd: fd)
        if connect(fd, info.ai_addr, info.ai_addrlen) != 0 && errno != EINPROGRESS {
            return .failure(ConnectionError(errno: errno))
        }
        return .success(connection)
    }

    /// After the socket became writable: did the connect succeed?
    func connectResult() -> ConnectionError? {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? nil : ConnectionError(errno: error)
    }

    var wantsToWrite: Bool { !output.isEmpty }

    /// Starts TLS on the connected socket (its ClientHello goes out at once).
    func startTLS(_ context: NIOSSLContext, host: String) -> ConnectionError? {
        do {
            let layer = try TLSLayer(context: context, host: host, fd: fd)
            tls = layer
            output += try layer.pending()
            return flush()
        } catch {
            return TLSLayer.explain(error)
        }
    }

    func send(_ bytes: [UInt8]) {
        if let tls {
            guard let records = try? tls.encrypt(bytes) else { return }
            output.append(contentsOf: records)
        } else {
            output.append(contentsOf: bytes)
        }
        _ = flush()
    }

    /// Writes what the socket takes. Returns an error when the connection broke.
    func flush() -> ConnectionError? {
        while !output.isEmpty {
            let written = output.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR { return nil }
                return ConnectionError(errno: errno)
            }
            output.removeFirst(written)
        }
        return nil
    }

    /// A TLS connection the server ended before the handshake was through: not a TLS port, or
    /// one that refuses this client. Final: trying again would meet the same.
    private func handshakeCut(_ how: String) -> ConnectionError? {
        guard tls != nil, !tlsEstablished else { return nil }
        return ConnectionError(
            message: "the server ended the connection during the TLS handshake (\(how)): is this a TLS port?", final: true)
    }

    /// Reads what is there. Returns the complete lines, or nil when the server closed (or the
    /// connection broke, with the reason in `error`).
    func read() -> (lines: [[UInt8]], closed: ConnectionError?)? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return ([], nil) }
            let error = ConnectionError(errno: errno)
            return ([], handshakeCut(error.message) ?? error)
        }
        if count == 0 {
            if let cut = handshakeCut("closed") { return ([], cut) }
            return nil
        }
        if let tls {
            do {
                let (plain, reply) = try tls.decrypt(Array(buffer[0..<count]))
                input.append(contentsOf: plain)
                if !plain.isEmpty { tlsEstablished = true }
                if !reply.isEmpty {
                    output += reply
                    if let error = flush() { return ([], error) }
                }
            } catch {
                return ([], error)
            }
        } else {
            input.append(contentsOf: buffer[0..<count])
        }
        var lines: [[UInt8]] = []
        var start = 0
        while let newline = input[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(input[start..<newline])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            lines.append(line)
            start = newline + 1
        }
        input.removeFirst(start)
        if input.count > Self.maximumLine {
            lines.append(Array(input))
            input = []
        }
        return (lines, nil)
    }
}

struct ConnectionError: Error, CustomStringConvertible {
    var message: String
    /// Trying again cannot help (a certificate that cannot be trusted): chat stops.
    var final = false

    init(message: String, final: Bool = false) {
        self.message = message
        self.final = final
    }
    init(errno code: Int32) { message = String(cString: strerror(code)) }

    var description: String { message }
}
