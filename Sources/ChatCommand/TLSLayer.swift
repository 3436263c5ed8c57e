import ChatCore
import Glibc
import NIOCore
import NIOEmbedded
import NIOSSL

/// TLS for chat's own socket loop: swift-nio-ssl's client handler on an in-memory channel. The
/// loop feeds it the bytes the socket read and writes out what it produces; the handshake, the
/// certificate's verification (the system's CAs, plus `--ca`, and the host name) and the records
/// are all BoringSSL's. There is no plaintext fallback: a failed handshake ends the connection.
final class TLSLayer {
    private let channel: EmbeddedChannel

    /// What to trust: the system's CAs, and a private CA's certificate when given.
    static func context(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Starts the handshake with `host` (a name is sent as SNI and checked against the
    /// certificate; an IP address is checked against its IP entries) over the socket `fd`.
    init(context: NIOSSLContext, host: String, fd: Int32) throws {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
        channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: Self.peer(of: fd) ?? SocketAddress(ipAddress: "0.0.0.0", port: 0)).wait()
    }

    deinit { _ = try? channel.finish() }

    /// Application bytes to send, as records to write to the socket (held until the handshake
    /// is done).
    func encrypt(_ bytes: [UInt8]) throws -> [UInt8] {
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
        return try pending()
    }

    /// Bytes read from the socket: the application bytes they held, and what must be written
    /// back (the handshake's next messages). Throws when the handshake or a record fails.
    func decrypt(_ bytes: [UInt8]) throws(ConnectionError) -> (plain: [UInt8], reply: [UInt8]) {
        do {
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
            var plain: [UInt8] = []
            while let buffer = try channel.readInbound(as: ByteBuffer.self) { plain += buffer.readableBytesView }
            return (plain, try pending())
        } catch {
            throw Self.explain(error)
        }
    }

    /// The records produced so far, to write to the socket.
    func pending() throws -> [UInt8] {
        var out: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
        return out
    }

    /// A failed handshake as a sentence; a certificate that cannot be trusted is final (no
    /// reconnecting to it).
    static func explain(_ error: any Error) -> ConnectionError {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return ConnectionError(message: "the server's certificate is not for this host name (\(extra))", final: true)
        }
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return ConnectionError(
                message:
                    "the server's certificate could not be verified: it has expired, is not valid yet, or is not signed by a CA this machine trusts (--ca FILE adds a private CA)",
                final: true)
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("UNKNOWN_PROTOCOL") {
            return ConnectionError(message: "the server does not speak TLS on this port (a plain chat port?)", final: true)
        }
        return ConnectionError(message: "TLS failed: \(text)")
    }

    /// The socket's peer, for checking an IP address against the certificate.
    private static func peer(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard got == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in.self), host: "") }
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: "") }
        default:
            return nil
        }
    }
}
