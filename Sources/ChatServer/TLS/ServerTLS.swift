import ChatCore
import Glibc
import Logging
import NIOSSL
import Synchronization

/// The TLS context the TLS listeners hand each new connection: loaded at start, and again on
/// every reload (a renewed certificate at the same path takes effect then). A connection keeps
/// the context it began with, so nobody is dropped; only new handshakes see the new one.
final class ServerTLS: Sendable {
    private let current: Mutex<Loaded>

    /// A context and what it presents (for the log).
    struct Loaded: Sendable {
        var context: NIOSSLContext
        var subject: String
        var notValidAfter: Int
    }

    /// Why a certificate or key cannot be used, as a sentence naming the key and the file.
    struct Problem: Error, CustomStringConvertible {
        /// The config key whose file is at fault.
        var key: String
        /// What is wrong with it, starting with the file's path.
        var reason: String

        var description: String { "\(key) \(reason)" }
    }

    init(_ config: Config.TLS) throws(Problem) {
        current = Mutex(try Self.load(config))
    }

    var context: NIOSSLContext { current.withLock { $0.context } }

    /// Loads `config`'s files again; on success new handshakes use them. On failure the running
    /// context stays.
    func reload(_ config: Config.TLS, logger: Logger) throws(Problem) {
        let loaded = try Self.load(config)
        current.withLock { $0 = loaded }
        Self.log(loaded, logger: logger, what: "TLS certificate reloaded")
    }

    func logCurrent(_ logger: Logger) {
        Self.log(current.withLock { $0 }, logger: logger, what: "TLS certificate")
    }

    private static func log(_ loaded: Loaded, logger: Logger, what: String) {
        let now = Int(time(nil))
        let days = (loaded.notValidAfter - now) / 86_400
        let metadata: Logger.Metadata = ["subject": "\(loaded.subject)", "daysLeft": "\(days)"]
        if loaded.notValidAfter < now {
            logger.error("\(what) has expired: clients will refuse it", metadata: metadata)
        } else if days < 14 {
            logger.warning("\(what) expires in \(days) days", metadata: metadata)
        } else {
            logger.notice("\(what)", metadata: metadata)
        }
    }

    /// TLS 1.2 with forward-secret AEAD suites only (ECDHE with AES-GCM or ChaCha20-Poly1305),
    /// and TLS 1.3 (whose suites are all of that kind).
    static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    static func load(_ config: Config.TLS) throws(Problem) -> Loaded {
        try readable(config.certificate, key: "tls.certificate")
        try readable(config.key, key: "tls.key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(config.certificate)
        } catch {
            throw Problem(key: "tls.certificate", reason: "\(config.certificate) holds no PEM certificate chain (\(error))")
        }
        guard let leaf = chain.first else {
            throw Problem(key: "tls.certificate", reason: "\(config.certificate) holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: config.key, format: .pem)
        } catch {
            throw Problem(key: "tls.key", reason: "\(config.key) holds no PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = cipherSuites
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw Problem(
                key: "tls.key", reason: "\(config.key) does not match the certificate in tls.certificate \(config.certificate) (\(error))")
        }
        let subject = leaf.description
        return Loaded(context: context, subject: subject, notValidAfter: Int(leaf.notValidAfter))
    }

    /// Opening the file says why it cannot be read better than the TLS library does.
    private static func readable(_ path: String, key: String) throws(Problem) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw Problem(key: key, reason: "\(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        close(fd)
    }
}
