// swift-tools-version:6.1
import PackageDescription

let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioWebSocket = Target.Dependency.product(name: "NIOWebSocket", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")

let package = Package(
    name: "chatd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chatd", targets: ["chatd"]),
        .executable(name: "chatctl", targets: ["chatctl"]),
        .executable(name: "chat", targets: ["chat"]),
        .executable(name: "chat-bench", targets: ["chat-bench"]),
        .library(name: "ChatCore", targets: ["ChatCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // Pure, I/O-free: protocol, rules, model, config. Shared by the daemon and the clients.
        .target(name: "ChatCore", dependencies: ["CICU"], swiftSettings: settings),
        // The system's ICU (libicu-dev): NFKC normalization and UTS #39 confusable skeletons for names.
        .target(name: "CICU", linkerSettings: [.linkedLibrary("icui18n"), .linkedLibrary("icuuc")]),
        // libsystemd's sd-daemon API, and a small Swift API over it (notify, watchdog, listen fds, journal logging).
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(name: "Systemd", dependencies: ["CSystemd", logging], swiftSettings: settings),
        // Linux headers Swift's Glibc module leaves out (epoll).
        .systemLibrary(name: "CLinux"),
        // SwiftNIO wiring: listeners, connection handlers, per-loop fan-out, lifecycle.
        .target(
            name: "ChatServer",
            dependencies: [
                "ChatCore", "ChatStore", "Systemd", "CLinux", nioCore, nioPosix, nioHTTP1, nioWebSocket, nioSSL, logging,
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                serviceLifecycle, unixSignals,
            ],
            exclude: ["Web/Assets"],
            swiftSettings: settings,
            plugins: ["EmbedAssetsPlugin"]
        ),
        // Build-time only: the web client's files become Swift source (Sources/ChatServer/Web/Assets).
        .executableTarget(name: "embed-assets", swiftSettings: settings),
        .plugin(name: "EmbedAssetsPlugin", capability: .buildTool(), dependencies: ["embed-assets"], path: "Sources/EmbedAssetsPlugin"),
        // The three commands are libraries, so one binary can hold them all: chatd dispatches on the
        // name it was started by (the .deb links chatctl and chat to it); chatctl and chat are also
        // built alone, for development.
        .target(
            name: "DaemonCommand",
            dependencies: ["ChatServer", "ChatCore", "Systemd", argumentParser, logging, serviceLifecycle],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "chatd", dependencies: ["DaemonCommand", "ChatctlCommand", "ChatCommand", argumentParser], swiftSettings: settings),
        // The operator's tool: speaks the admin protocol from ChatCore, never imports the server.
        .target(name: "ChatctlCommand", dependencies: ["ChatCore", argumentParser], swiftSettings: settings),
        .executableTarget(name: "chatctl", dependencies: ["ChatctlCommand", argumentParser], swiftSettings: settings),
        // Load generator for chatd and its peers (docs/BENCHMARKS.md).
        .executableTarget(
            name: "chat-bench",
            dependencies: [
                "ChatCore", "ChatStore", nioCore, nioPosix, nioSSL, .product(name: "NIOTLS", package: "swift-nio"), argumentParser, logging,
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: settings
        ),
        // History on disk: the embedded SQLite store behind ChatCore's HistoryStore (docs/ARCHITECTURE.md).
        .target(
            name: "ChatStore",
            dependencies: [
                "ChatCore", nioCore, nioPosix, logging, .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        // The terminal client: a pure core (line editor, key decoding, session, styling) and a thin
        // executable that owns the terminal, the socket and the signals.
        .target(name: "ChatClient", dependencies: ["ChatCore"], swiftSettings: settings),
        .target(
            name: "ChatCommand",
            dependencies: ["ChatClient", "ChatCore", argumentParser, nioCore, nioSSL, .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: settings),
        .executableTarget(name: "chat", dependencies: ["ChatCommand", argumentParser], swiftSettings: settings),
        .testTarget(name: "ChatCoreTests", dependencies: ["ChatCore"], swiftSettings: settings),
        .testTarget(name: "ChatClientTests", dependencies: ["ChatClient", "ChatCore"], swiftSettings: settings),
        // The NIO layer on EmbeddedChannel: the connection handler, the drain and fan-out, the WebSocket adapter.
        .testTarget(
            name: "ChatServerTests",
            dependencies: ["ChatServer", "ChatCore", nioCore, nioWebSocket, logging, .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: settings
        ),
        .testTarget(name: "ChatStoreTests", dependencies: ["ChatStore", "ChatCore", logging], swiftSettings: settings),
        .testTarget(name: "EndToEndTests", dependencies: ["ChatCore"], swiftSettings: settings),
    ]
)
