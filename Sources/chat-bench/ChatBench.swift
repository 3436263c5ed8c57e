import ArgumentParser
import Atomics
import Foundation
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

extension BenchProtocol: ExpressibleByArgument {}

@main
struct ChatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-bench",
        abstract: "Load a chat server: N clients in one room, K of them sending; report deliveries, latency and memory.",
        discussion: """
            Every client reads everything. Senders send messages of --size bytes, either as fast as the \
            server takes them with at most --window messages in flight each (a message is in flight until \
            every other client has received it), or at --rate messages per second each. Latency is the time \
            from send to receipt, measured on this machine's monotonic clock. With --idle, clients only \
            connect and register, and the server's memory per connection is measured (needs --pid).

            Examples:
              chat-bench --port 7777 --clients 100 --senders 10 --duration 20
              chat-bench --port 7777 --clients 1000 --senders 10 --rate 50 --json
              chat-bench --port 6667 --protocol irc --clients 100
              chat-bench --port 7777 --idle --clients 19000 --pid $(pidof chatd)
              chat-bench --store /tmp/bench-history.db --batch 1000 --duration 10
              chat-bench --port 6697 --tls --clients 1000 --senders 10
              chat-bench --port 6697 --tls --handshakes --clients 20 --duration 10
            """
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port: Int?
    @Option(help: "Measure the history store instead of a server: append lines to a new SQLite file at this path for --duration seconds.")
    var store: String?
    @Option(help: "With --store: lines per transaction (the writer commits a flush interval's worth at once).") var batch = 1000
    @Option(help: "Protocol: chatd (text mode), line (a plain relay such as NIOChatServer) or irc.") var `protocol` = BenchProtocol.chatd
    @Option(help: "Clients, all in one room.") var clients = 100
    @Option(help: "How many of the clients send.") var senders = 10
    @Option(help: "Message size in bytes.") var size = 64
    @Option(help: "Messages in flight per sender, when sending as fast as possible.") var window = 16
    @Option(help: "Messages per second per sender (default: as fast as the window allows).") var rate: Double?
    @Option(help: "Seconds measured.") var duration: Double = 20
    @Option(help: "Seconds of warm-up before measuring.") var warmup: Double = 2
    @Option(help: "Spread clients over this many source addresses 127.0.0.1…, past the ephemeral port limit.")
    var sources = 1
    @Option(help: "The server's pid, to report its memory (VmRSS).") var pid: Int32?
    @Flag(help: "Only connect and hold the clients; report memory per connection.") var idle = false
    @Flag(help: "Print the result as JSON.") var json = false
    @Flag(help: "Connect over TLS (the certificate is not checked: this measures, it does not trust).") var tls = false
    @Flag(
        help:
            "Measure connections per second instead: --clients workers each connect (over TLS: through a full handshake), close, and again."
    )
    var handshakes = false
    @Option(help: "With --idle: keep the clients connected this many seconds after the report (to inspect the machine).")
    var hold: Double = 0
    @Option(help: "With --idle: wait this many seconds after the last client is ready before measuring, for the server to settle.")
    var settle: Double = 5

    func validate() throws {
        if store != nil {
            guard batch >= 1, duration > 0 else { throw ValidationError("--batch and --duration must be positive.") }
            return
        }
        guard port != nil else { throw ValidationError("Give the server's --port (or --store PATH to measure the history store).") }
        guard clients >= 2 else { throw ValidationError("--clients must be at least 2.") }
        guard handshakes || (0...clients).contains(senders) else { throw ValidationError("--senders must be from 0 to --clients.") }
        guard size >= 24 else { throw ValidationError("--size must be at least 24 bytes (the message's marker).") }
        guard window >= 1, duration > 0, warmup >= 0, (1...254).contains(sources) else {
            throw ValidationError("--window, --duration, --warmup and --sources must be positive (--sources at most 254).")
        }
        if idle && pid == nil { throw ValidationError("--idle measures the server's memory: give --pid.") }
        guard hold >= 0, hold == 0 || idle else { throw ValidationError("--hold is for --idle runs, and cannot be negative.") }
        guard settle >= 0 else { throw ValidationError("--settle cannot be negative.") }
    }

    func run() async throws {
        if let store {
            try await StoreBench(path: store, batch: batch, size: size, duration: duration, json: json).run()
            return
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            if handshakes {
                try await measureHandshakes(group)
            } else {
                try await measure(group)
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func measure(_ group: MultiThreadedEventLoopGroup) async throws {
        let activeSenders = idle ? 0 : senders
        let run = Run(senders: max(activeSenders, 1), window: window, receivers: clients - 1)
        let hooks = Senders()
        var plan = BenchClient.Plan(proto: self.protocol, size: size, rate: rate, idle: idle)
        let rssBefore = pid.flatMap(Self.rss)

        // Connect and register everyone, a batch at a time.
        let connectStart = UInt64.monotonicNow
        var channels: [any Channel] = []
        var handlers: [NIOLoopBound<BenchClient>] = []
        let planForConnect = plan
        let tlsContext = try tls ? Self.tlsContext() : nil
        for batchStart in stride(from: 0, to: clients, by: 200) {
            var readiness: [EventLoopFuture<Void>] = []
            for index in batchStart..<min(clients, batchStart + 200) {
                let loop = group.next()
                let ready = loop.makePromise(of: Void.self)
                let sender = index < activeSenders ? index : nil
                let source = try SocketAddress(ipAddress: "127.0.0.\(1 + index % sources)", port: 0)
                let channel = try await ClientBootstrap(group: loop)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .bind(to: source)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let tlsContext {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOSSLClientHandler(context: tlsContext, serverHostname: nil))
                            }
                            let client = BenchClient(
                                index: index, sender: sender, plan: planForConnect, run: run, senders: hooks, ready: ready)
                            try channel.pipeline.syncOperations.addHandler(client)
                        }
                    }
                    .connect(host: host, port: port!).get()
                let client = try await channel.pipeline.handler(type: BenchClient.self).map {
                    NIOLoopBound($0, eventLoop: channel.eventLoop)
                }.get()
                channels.append(channel)
                handlers.append(client)
                readiness.append(ready.futureResult)
            }
            try await EventLoopFuture.andAllSucceed(readiness, on: group.next()).get()
        }
        let connectSeconds = Double(UInt64.monotonicNow - connectStart) / 1e9

        if idle {
            try await Task.sleep(for: .milliseconds(Int(settle * 1000)))  // let the server settle after the connection storm
            let rssAfter = pid.flatMap(Self.rss)
            report(idle: true, connectSeconds: connectSeconds, result: ClientResult(), rssBefore: rssBefore, rssAfter: rssAfter, plan: plan)
            if hold > 0 { try await Task.sleep(for: .milliseconds(Int(hold * 1000))) }
            for channel in channels { try? await channel.close() }
            return
        }

        // Warm up, then measure for `duration`.
        let start = UInt64.monotonicNow
        let measureFrom = start + UInt64(warmup * 1e9)
        plan.stopAt = measureFrom + UInt64(duration * 1e9)
        run.measureFrom.store(measureFrom, ordering: .relaxed)
        let stopAt = plan.stopAt
        for handler in handlers {
            try await handler.eventLoop.submit { handler.value.setStop(stopAt) }.get()
        }
        if rate == nil {
            // Clients 0..<K are senders 0..<K; a completed message lets its sender send the next.
            for (index, handler) in handlers.prefix(activeSenders).enumerated() {
                hooks.set(index) { handler.eventLoop.execute { handler.value.sendNext() } }
            }
        }
        for handler in handlers.prefix(activeSenders) {
            let window = self.window
            handler.eventLoop.execute { handler.value.start(window: window) }
        }
        // The server's CPU over the measured window only (not connecting, warm-up or the grace).
        try await Self.sleep(until: measureFrom)
        let cpuBefore = pid.flatMap(Self.cpuSeconds)
        try await Self.sleep(until: stopAt)
        let cpuAfter = pid.flatMap(Self.cpuSeconds)
        run.stopped.store(true, ordering: .relaxed)
        // Let what is in flight arrive.
        try await Task.sleep(for: .seconds(2))

        var total = ClientResult()
        for handler in handlers {
            total.merge(try await handler.eventLoop.submit { handler.value.result }.get())
        }
        let rssAfter = pid.flatMap(Self.rss)
        let cpu = cpuBefore.flatMap { before in cpuAfter.map { ($0 - before) / duration * 100 } }
        report(
            idle: false, connectSeconds: connectSeconds, result: total, rssBefore: rssBefore, rssAfter: rssAfter, plan: plan,
            serverCPUPercent: cpu)
        for channel in channels { try? await channel.close() }
    }

    private func report(
        idle: Bool, connectSeconds: Double, result: ClientResult, rssBefore: Int?, rssAfter: Int?, plan: BenchClient.Plan,
        serverCPUPercent: Double? = nil
    ) {
        var values: [String: Any] = [
            "protocol": self.protocol.rawValue, "clients": clients, "connectSeconds": (connectSeconds * 1000).rounded() / 1000,
        ]
        if let serverCPUPercent { values["serverCPUPercent"] = serverCPUPercent.rounded() }
        if let rssBefore, let rssAfter {
            values["serverRSSKiB"] = rssAfter
            values["rssPerConnectionKiB"] = (Double(rssAfter - rssBefore) / Double(clients) * 100).rounded() / 100
        }
        if !idle {
            let expected = result.sent * (clients - 1)
            let ms = { (p: Double) in Double(result.histogram.valueAtPercentile(p)) / 1e6 }
            values["senders"] = senders
            values["size"] = size
            values["mode"] = rate.map { "\($0) msg/s per sender" } ?? "max, window \(window)"
            values["seconds"] = duration
            values["messagesPerSecond"] = (Double(result.sent) / duration).rounded()
            values["deliveriesPerSecond"] = (Double(result.deliveries) / duration).rounded()
            values["lossPercent"] =
                expected == 0 ? 0 : (Double(max(0, expected - result.deliveries)) / Double(expected) * 1000).rounded() / 10
            values["latencyMs"] = [
                "p50": ms(50), "p90": ms(90), "p99": ms(99), "max": Double(result.histogram.maxRecorded) / 1e6,
            ]
        }
        if json {
            let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for key in values.keys.sorted() {
            print(key.padding(toLength: 22, withPad: " ", startingAt: 0) + "\(values[key]!)")
        }
    }

    /// A client context that accepts any certificate: the bench measures TLS, it trusts nothing.
    static func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// `--handshakes`: full connections per second: TCP connects, or TLS handshakes.
    private func measureHandshakes(_ group: MultiThreadedEventLoopGroup) async throws {
        let context = try tls ? Self.tlsContext() : nil
        let completed = ManagedAtomic<Int>(0)
        let failed = ManagedAtomic<Int>(0)
        let start = UInt64.monotonicNow
        let measureFrom = start + UInt64(warmup * 1e9)
        let stopAt = measureFrom + UInt64(duration * 1e9)
        let host = self.host
        let port = self.port!
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<clients {
                tasks.addTask {
                    while UInt64.monotonicNow < stopAt {
                        let greeted = group.next().makePromise(of: Void.self)
                        do {
                            let channel = try await ClientBootstrap(group: greeted.futureResult.eventLoop)
                                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                                .channelInitializer { channel in
                                    channel.eventLoop.makeCompletedFuture {
                                        if let context {
                                            try channel.pipeline.syncOperations.addHandler(
                                                NIOSSLClientHandler(context: context, serverHostname: nil))
                                        }
                                        try channel.pipeline.syncOperations.addHandler(Established(greeted, tls: context != nil))
                                    }
                                }
                                .connect(host: host, port: port).get()
                            try await greeted.futureResult.get()
                            try? await channel.close()
                            if UInt64.monotonicNow >= measureFrom { completed.wrappingIncrement(ordering: .relaxed) }
                        } catch {
                            greeted.fail(error)
                            failed.wrappingIncrement(ordering: .relaxed)
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let perSecond = Double(completed.load(ordering: .relaxed)) / duration
        let values: [String: Any] = [
            "mode": tls ? "TLS handshakes" : "TCP connections", "workers": clients, "perSecond": perSecond.rounded(),
            "failed": failed.load(ordering: .relaxed), "seconds": duration,
        ]
        if json {
            let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            for key in values.keys.sorted() { print(key.padding(toLength: 22, withPad: " ", startingAt: 0) + "\(values[key]!)") }
        }
    }

    /// Sleeps until the monotonic clock reaches `deadline` (not at all once it has).
    static func sleep(until deadline: UInt64) async throws {
        let now = UInt64.monotonicNow
        if deadline > now { try await Task.sleep(for: .nanoseconds(Int64(deadline - now))) }
    }

    /// The CPU time (user and system) a process has used, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        // Fields after the command name, which is in parentheses and may contain spaces.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A process's resident memory in KiB.
    static func rss(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
}

/// Completes `promise` once the connection is established: at connect for TCP, at the end of
/// the handshake for TLS (not at chatd's greeting, which waits 150 ms for a client that speaks
/// first).
final class Established: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>
    private let tls: Bool

    init(_ promise: EventLoopPromise<Void>, tls: Bool) {
        self.promise = promise
        self.tls = tls
    }

    func channelActive(context: ChannelHandlerContext) {
        if !tls { promise.succeed() }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { promise.succeed() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.ioOnClosedChannel)
    }
}
