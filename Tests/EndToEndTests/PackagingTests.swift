import Foundation
import Testing

/// The packaging, as `make deb` (run by `make test` before the suite) leaves it in .build:
/// the install tree, the .deb, its maintainer scripts, and the units systemd would load.
@Suite("packaging")
struct PackagingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tree = root.appendingPathComponent(".build/deb").path

    /// The .deb `make deb` built.
    static func deb() throws -> String {
        let build = root.appendingPathComponent(".build").path
        let name = try FileManager.default.contentsOfDirectory(atPath: build).first { $0.hasPrefix("chatd_") && $0.hasSuffix(".deb") }
        guard let name else { throw TestFailure("no .deb in \(build): run `make deb` (make test does)") }
        return build + "/" + name
    }

    @Test("the units pass systemd-analyze verify")
    func verify() throws {
        // verify checks that ExecStart= exists on this machine: point a copy at the built tree.
        let directory = "/tmp/chatd-units-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let units = Self.tree + "/lib/systemd/system/"
        let service = try String(contentsOfFile: units + "chatd.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/sbin/chatd", with: Self.tree + "/usr/sbin/chatd")
            .replacingOccurrences(of: "/usr/bin/chatctl", with: Self.tree + "/usr/bin/chatctl")
        try service.write(toFile: directory + "/chatd.service", atomically: true, encoding: .utf8)
        for socket in ["chatd.socket", "chatd-admin.socket", "chatd-web.socket"] {
            try FileManager.default.copyItem(atPath: units + socket, toPath: directory + "/" + socket)
        }
        let paths = ["chatd.service", "chatd.socket", "chatd-admin.socket", "chatd-web.socket"].map { directory + "/" + $0 }
        let result = try Daemon.run(["/usr/bin/systemd-analyze", "verify", "--man=no"] + paths)
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.err.isEmpty, "\(result.err)")
    }

    @Test("systemd-analyze security rates the service 2.0 or lower")
    func security() throws {
        let result = try Daemon.run([
            "/usr/bin/systemd-analyze", "security", "--offline=true", Self.tree + "/lib/systemd/system/chatd.service",
        ])
        let line = result.out.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        let score = line.split(separator: " ").compactMap { Double($0) }.first
        #expect(score != nil, "\(result.out)\(result.err)")
        #expect((score ?? 10) <= 2.0, "\(line)")
    }

    @Test("the .deb holds the binaries, units, snippets, man pages and the config as a conffile")
    func contents() throws {
        let deb = try Self.deb()
        let contents = try Daemon.run(["/usr/bin/dpkg-deb", "--contents", deb])
        #expect(contents.status == 0)
        for path in [
            "./usr/sbin/chatd", "./usr/share/man/man1/chat.1", "./lib/systemd/system/chatd.service",
            "./lib/systemd/system/chatd.socket",
            "./lib/systemd/system/chatd-admin.socket", "./lib/systemd/system/chatd-web.socket", "./usr/lib/sysusers.d/chatd.conf",
            "./usr/lib/tmpfiles.d/chatd.conf",
            "./usr/share/man/man8/chatd.8", "./usr/share/man/man1/chatctl.1", "./etc/chatd/chatd.json", "./usr/share/doc/chatd/ADMIN.md",
        ] {
            #expect(contents.out.contains(" \(path)\n"), "missing \(path)")
        }
        #expect(contents.out.contains("-rwxr-xr-x root/root") && contents.out.contains("./usr/sbin/chatd"))
        // One binary: chatctl and chat are links to chatd, which runs the command it is started as.
        for tool in ["chatctl", "chat"] {
            #expect(contents.out.contains(" ./usr/bin/\(tool) -> ../sbin/chatd\n"), "\(tool) is not a link to chatd")
        }
        // The Swift runtime and FoundationEssentials are linked in once, and Foundation's ICU data
        // not at all (the system's libicu serves names): the download stays under 12 MB (10.8 MB
        // since accounts brought swift-crypto, whose scrypt comes with a BoringSSL of its own
        // beside swift-nio-ssl's).
        let size = try FileManager.default.attributesOfItem(atPath: deb)[.size] as? Int ?? .max
        #expect(size < 12_000_000, "the .deb is \(size) bytes")

        let info = try Daemon.run(["/usr/bin/dpkg-deb", "--info", deb])
        #expect(info.out.contains("Package: chatd"))
        #expect(info.out.contains("Depends:") && info.out.contains("libsystemd0") && info.out.contains("systemd"))
        #expect(!info.out.contains("swift"), "depends on a Swift runtime package: \(info.out)")
        for script in ["postinst", "prerm", "postrm"] {
            #expect(info.out.contains(" \(script) "), "no \(script)")
        }
        let service = try String(contentsOfFile: Self.tree + "/lib/systemd/system/chatd.service", encoding: .utf8)
        #expect(service.contains("ExecStart=/usr/sbin/chatd --config /etc/chatd/chatd.json"))
        #expect(service.contains("ExecReload=/usr/bin/chatctl reload"))
        #expect(try String(contentsOfFile: Self.tree + "/DEBIAN/conffiles", encoding: .utf8) == "/etc/chatd/chatd.json\n")
    }

    @Test("the maintainer scripts create the user and enable the service the Debian way, and parse")
    func maintainerScripts() throws {
        let postinst = try String(contentsOfFile: Self.tree + "/DEBIAN/postinst", encoding: .utf8)
        #expect(postinst.contains("systemd-sysusers chatd.conf"))
        #expect(postinst.contains("deb-systemd-helper enable chatd.service"))
        #expect(postinst.contains("deb-systemd-invoke \"$action\" chatd.service"))
        let prerm = try String(contentsOfFile: Self.tree + "/DEBIAN/prerm", encoding: .utf8)
        #expect(prerm.contains("deb-systemd-invoke stop chatd.service"))
        for script in ["postinst", "prerm", "postrm"] {
            #expect(try Daemon.run(["/bin/sh", "-n", Self.tree + "/DEBIAN/" + script]).status == 0, "\(script) does not parse")
        }
    }

    @Test("the packaged binaries run where no Swift runtime is on the library path")
    func staticRuntime() throws {
        let deb = try Self.deb()
        let unpacked = "/tmp/chatd-deb-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: unpacked) }
        #expect(try Daemon.run(["/usr/bin/dpkg-deb", "-x", deb, unpacked]).status == 0)
        for binary in ["/usr/sbin/chatd", "/usr/bin/chatctl", "/usr/bin/chat"] {
            let libraries = try Daemon.run(["/usr/bin/ldd", unpacked + binary]).out
            #expect(
                !libraries.contains("libswift") && !libraries.contains("libFoundation") && !libraries.contains("not found"), "\(libraries)")
            let version = try Daemon.run(["/usr/bin/env", "-i", "LD_LIBRARY_PATH=", unpacked + binary, "--version"])
            #expect(version.status == 0, "\(version.err)")
            #expect(version.out == "0.1.0\n")
            let help = try Daemon.run(["/usr/bin/env", "-i", unpacked + binary, "--help"])
            let name = String(binary.split(separator: "/").last ?? "")
            #expect(help.out.contains("USAGE: \(name) "), "\(binary) --help is not \(name)'s: \(help.out.prefix(300))")
        }
    }
}
