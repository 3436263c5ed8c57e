// swift-tools-version:5.4
// libFuzzer harnesses for ChatCore's parsers. A nested package, because SwiftPM's entry point for
// executables in newer tools versions clashes with libFuzzer's own `main`. Run with `make fuzz`.
import PackageDescription

let package = Package(
    name: "ChatdFuzz",
    dependencies: [.package(name: "chatd", path: "../..")],
    targets: [
        .target(name: "FuzzParsers", dependencies: [.product(name: "ChatCore", package: "chatd")])
    ]
)
