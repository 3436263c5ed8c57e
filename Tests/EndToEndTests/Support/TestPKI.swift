import Foundation

/// A private certificate authority for one test, made with the openssl command: a CA, and
/// server certificates it signed for `localhost` and 127.0.0.1 (`first`, `second`), one that
/// expired in 2020, and one for another name; each with its own key.
struct TestPKI {
    let directory: String

    var caCertificate: String { directory + "/ca.pem" }
    func certificate(_ name: String) -> String { directory + "/\(name).pem" }
    func key(_ name: String) -> String { directory + "/\(name).key" }

    init() throws {
        directory = "/tmp/chatd-pki-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            [ ca ]
            default_ca = test
            [ test ]
            database = \(directory)/index.txt
            new_certs_dir = \(directory)
            serial = \(directory)/serial
            default_md = sha256
            policy = any
            copy_extensions = copy
            unique_subject = no
            [ any ]
            commonName = supplied
            """
        try config.write(toFile: directory + "/ca.cnf", atomically: true, encoding: .utf8)
        try "".write(toFile: directory + "/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: directory + "/serial", atomically: true, encoding: .utf8)
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/ca.key", "-out",
            caCertificate, "-days", "3", "-subj", "/CN=chatd test CA",
        ])
        let now = Date()
        let days = { (offset: Double) in Self.stamp(now.addingTimeInterval(offset * 86_400)) }
        try issue("first", names: "DNS:localhost,IP:127.0.0.1", from: days(-1), to: days(2))
        try issue("second", names: "DNS:localhost,IP:127.0.0.1", from: days(-1), to: days(2))
        try issue("expired", names: "DNS:localhost,IP:127.0.0.1", from: "20200101000000Z", to: "20200201000000Z")
        try issue("elsewhere", names: "DNS:chat.example.org", from: days(-1), to: days(2))
    }

    /// A key and a certificate for it, signed by the CA, valid from `from` to `to`.
    private func issue(_ name: String, names: String, from: String, to: String) throws {
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key(name), "-out",
            directory + "/\(name).csr", "-subj", "/CN=\(name)", "-addext", "subjectAltName=\(names)",
        ])
        try openssl([
            "ca", "-batch", "-config", directory + "/ca.cnf", "-cert", caCertificate, "-keyfile", directory + "/ca.key", "-in",
            directory + "/\(name).csr", "-out", certificate(name), "-startdate", from, "-enddate", to, "-notext",
        ])
    }

    private func openssl(_ arguments: [String]) throws {
        let run = try Daemon.run(["/usr/bin/openssl"] + arguments)
        guard run.status == 0 else { throw TestFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(run.err)") }
    }

    /// `YYYYMMDDHHMMSSZ`, as `openssl ca` takes dates.
    private static func stamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d%02d%02d%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
            parts.tm_sec)
    }

    /// Puts `name`'s certificate and `keyName`'s key (its own by default) where a config points.
    func install(_ name: String, keyOf keyName: String? = nil, at certificate: String, keyAt keyPath: String) throws {
        for (from, to) in [(self.certificate(name), certificate), (key(keyName ?? name), keyPath)] {
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
