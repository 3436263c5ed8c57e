import ChatCore
import ChatStore
import CoreMetrics
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// What chatd tells Prometheus, in swift-prometheus's registry (swift-metrics is bootstrapped
/// onto it too, so any swift-metrics instrument lands there): the history writer's commit
/// times as they happen, and, at each scrape, the daemon's counters as
/// `chatctl stats` reads them (a counter read per loop, and the hub's lock only for the client
/// and room counts), the loops' lag, and the process's memory and descriptors.
final class ChatMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let control: DaemonControl
    private let readiness: Readiness
    /// Counter totals already published, by series (counters only go up by the difference).
    private let published = Mutex<[String: Int]>([:])

    init(registry: PrometheusCollectorRegistry, control: DaemonControl, readiness: Readiness) {
        self.registry = registry
        self.control = control
        self.readiness = readiness
        if let history = control.hub.history {
            let commits = registry.makeDurationHistogram(
                descriptor: Self.named("chatd_history_commit_seconds", "How long each history batch took to commit."), labels: [],
                buckets: [
                    .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                    .milliseconds(250), .seconds(1), .seconds(5),
                ])
            history.onCommit.withLock { $0 = { commits.record($0) } }
        }
    }

    /// The histogram loop `loop`'s shard times its mailbox in (see `Shard.post`).
    static func drainLatency(in registry: PrometheusCollectorRegistry, loop: Int) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: named(
                "chatd_drain_latency_seconds",
                "How long messages for a loop's clients waited in its mailbox before the loop wrote them out."),
            labels: [("loop", String(loop))],
            buckets: [
                .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .seconds(1),
            ])
    }

    /// Makes swift-metrics' instruments report to `registry` (once per process).
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The Prometheus text exposition, brought up to date.
    func scrape() async -> String {
        let (stats, counters) = await control.statsAndCounters()
        let hub = control.hub
        gauge("chatd_clients", "Registered clients.", stats.clients)
        gauge("chatd_clients_peak", "The most registered clients at once since start.", stats.peakClients)
        for listener in ListenerKind.allCases {
            gauge(
                "chatd_connections", "Open client connections, registered or not, by transport and TLS.", counters.open[listener] ?? 0,
                labels: [("transport", listener.transport), ("tls", listener.isTLS ? "true" : "false")])
        }
        counter("chatd_registrations_total", "Nicknames granted to new connections.", stats.registrations)
        for cause in ConnectionLife.Cause.allCases where cause != .refused {
            counter(
                "chatd_disconnects_total", "Accepted connections that ended, by why.", counters.disconnects[cause] ?? 0,
                labels: [("reason", cause.rawValue)])
        }
        gauge("chatd_connections_parked", "Idle connections parked off the event loops.", stats.parked)
        gauge("chatd_rooms", "Rooms with members.", stats.rooms)
        gauge("chatd_uptime_seconds", "Seconds since chatd started.", stats.uptimeSeconds)
        gauge("chatd_draining", "1 while new clients are refused for maintenance.", stats.draining ? 1 : 0)
        counter("chatd_messages_total", "Room and private messages relayed.", stats.messages)
        counter("chatd_deliveries_total", "Lines written to clients.", stats.delivered)
        counter("chatd_bytes_in_total", "Bytes read from clients.", stats.bytesIn)
        counter("chatd_bytes_out_total", "Bytes written to clients.", stats.bytesOut)
        counter("chatd_connections_accepted_total", "Client connections accepted.", stats.accepted)
        for reason in Refusal.allCases {
            counter(
                "chatd_connections_refused_total", "Connections refused or cut, by reason.", stats.refused[reason.rawValue] ?? 0,
                labels: [("reason", reason.rawValue)])
        }
        gauge("chatd_history_up", "1 when history is on and healthy, 0 when off or degraded.", stats.history == "on" ? 1 : 0)
        counter("chatd_history_written_total", "Room lines written to the history store.", stats.historyWritten)
        counter("chatd_history_dropped_total", "Room lines lost to a failing history store.", stats.historyDropped)
        gauge("chatd_history_backlog", "Room lines waiting for the next history batch.", hub.history?.backlog ?? 0)
        for shard in hub.shards {
            let lag = await Self.lag(shard.eventLoop)
            registry.makeGauge(
                descriptor: Self.named("chatd_event_loop_lag_seconds", "How long a task waited for its event loop, at the scrape."),
                labels: [("loop", String(shard.index))]
            ).set(lag ?? 1)
        }
        if let memory = Self.residentBytes() {
            registry.makeGauge(descriptor: Self.named("process_resident_memory_bytes", "Resident memory size in bytes.")).set(
                Double(memory))
        }
        if let files = Self.openDescriptors() {
            registry.makeGauge(descriptor: Self.named("process_open_fds", "Number of open file descriptors.")).set(Double(files))
        }
        return registry.emitToString()
    }

    /// `/healthz`: 200 when every listener is bound and every loop answers within a second; 503
    /// while starting, draining or stopping, with why.
    func health() async -> (ok: Bool, text: String) {
        if control.hub.stopping.load(ordering: .relaxed) { return (false, "stopping") }
        if let message = control.hub.draining { return (false, "draining: \(message)") }
        guard readiness.isReady else { return (false, "starting: not every listener is bound yet") }
        for shard in control.hub.shards {
            guard let lag = await Self.lag(shard.eventLoop), lag < 1 else {
                return (false, "event loop \(shard.index) does not answer")
            }
        }
        return (true, "ok")
    }

    private func gauge(_ name: String, _ help: String, _ value: Int, labels: [(String, String)] = []) {
        registry.makeGauge(descriptor: Self.named(name, help), labels: labels).set(Double(value))
    }

    /// Publishes a running total as a counter: it rises by what the total rose since the last
    /// scrape.
    private func counter(_ name: String, _ help: String, _ total: Int, labels: [(String, String)] = []) {
        let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let rise = published.withLock { published -> Int in
            defer { published[key] = max(published[key] ?? 0, total) }
            return max(0, total - (published[key] ?? 0))
        }
        let counter = registry.makeCounter(descriptor: Self.named(name, help), labels: labels)
        counter.increment(by: Int64(rise))
    }

    /// A metric's full name (chatd's names carry their unit already) and its help.
    private static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Seconds a task waited to run on `loop`; nil after a second without it running.
    private static func lag(_ loop: any EventLoop) async -> Double? {
        let start = NIODeadline.now()
        let ran = loop.submit { NIODeadline.now() }
        let timeout = loop.scheduleTask(in: .seconds(1)) {}
        defer { timeout.cancel() }
        return await withTaskGroup(of: Double?.self) { group in
            group.addTask { (try? await ran.get()).map { Double(($0 - start).nanoseconds) / 1e9 } }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private static func residentBytes() -> Int? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return max(0, count - 3)  // ".", "..", and the directory's own descriptor
    }
}

/// Serves `/metrics` and `/healthz` on `metrics.listen` until graceful shutdown.
final class MetricsService: Service {
    private let metrics: ChatMetrics
    private let addresses: [HostAndPort]
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger

    init(metrics: ChatMetrics, addresses: [HostAndPort], group: MultiThreadedEventLoopGroup, logger: Logger) {
        self.metrics = metrics
        self.addresses = addresses
        self.group = group
        self.logger = logger
    }

    func run() async throws {
        var channels: [any Channel] = []
        let metrics = self.metrics
        do {
            for address in addresses {
                let channel = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                            try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics))
                        }
                    }
                    .bind(host: address.host, port: address.port).get()
                channels.append(channel)
                logger.notice("serving metrics on http://\(channel.localAddress.map(SocketAddress.describe) ?? "\(address)")/metrics")
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw StartupError("cannot serve metrics: \(error)")
        }
        // Stops after the chat (it is left of it in the service group), so /healthz says
        // "stopping" while the clients are being closed.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
        for channel in channels { try? await channel.close() }
    }
}

/// GET /metrics (Prometheus text format 0.0.4), GET /healthz; 404 for anything else.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: ChatMetrics
    private var head: HTTPRequestHead?

    init(metrics: ChatMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.prefix { $0 != "?" }
            let metrics = self.metrics
            let answer = context.eventLoop.makePromise(of: (HTTPResponseStatus, String, String).self)
            switch (head.method, path) {
            case (.GET, "/metrics"), (.HEAD, "/metrics"):
                answer.completeWithTask { (.ok, "text/plain; version=0.0.4; charset=utf-8", await metrics.scrape()) }
            case (.GET, "/healthz"), (.HEAD, "/healthz"):
                answer.completeWithTask {
                    let (ok, text) = await metrics.health()
                    return (ok ? .ok : .serviceUnavailable, "text/plain; charset=utf-8", text + "\n")
                }
            default:
                answer.succeed((.notFound, "text/plain; charset=utf-8", "Not found: this port serves /metrics and /healthz.\n"))
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            answer.futureResult.whenSuccess { status, type, body in
                let (handler, context) = bound.value
                handler.respond(context, head, status, type, body)
            }
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ type: String, _ body: String
    ) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.utf8.count))])
        headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
