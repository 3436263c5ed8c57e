import Atomics
import Histogram
import NIOCore
import Synchronization

/// The senders' "send the next message" hooks, filled in once every client is connected.
final class Senders: Sendable {
    private let hooks = Mutex<[Int: @Sendable () -> Void]>([:])

    func set(_ sender: Int, _ hook: @escaping @Sendable () -> Void) { hooks.withLock { $0[sender] = hook } }

    func complete(_ sender: Int) { hooks.withLock { $0[sender] }?() }
}

/// One benchmark client: registers with the server, then (if it is a sender) sends messages
/// and (always) counts and times the messages it receives. Lives on its channel's event loop.
final class BenchClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Plan: Sendable {
        var proto: BenchProtocol
        var size: Int
        /// Messages per second per sender; nil: as fast as the window allows.
        var rate: Double?
        var stopAt: UInt64 = .max
        /// Idle mode: an IRC client is ready once registered, without joining the room (as the
        /// peers' idle figures in shared/BASELINES.md were taken; joining N clients to one IRC
        /// channel costs O(N²) in join notices and name lists).
        var idle = false
    }

    let index: Int
    /// Set for the first `senders` clients.
    let sender: Int?
    private var plan: Plan
    private let run: Run
    private let senders: Senders
    private let ready: EventLoopPromise<Void>
    private var context: ChannelHandlerContext?
    private var pending = ByteBuffer()
    private var seq = 0
    private var isReady = false
    var result = ClientResult()

    init(index: Int, sender: Int?, plan: Plan, run: Run, senders: Senders, ready: EventLoopPromise<Void>) {
        self.index = index
        self.sender = sender
        self.plan = plan
        self.run = run
        self.senders = senders
        self.ready = ready
    }

    var nick: String { "b\(index)" }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        switch plan.proto {
        case .chatd: write("\(nick)\r\n")
        case .line: markReady()
        case .irc: write("NICK \(nick)\r\nUSER \(nick) 0 * :chat-bench\r\n")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ready.fail(ChannelError.ioOnClosedChannel)
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending.writeBuffer(&buffer)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            let line = pending.readSlice(length: length + 1)!
            receive(line.readableBytesView)
        }
        pending.discardReadBytes()
    }

    private func receive(_ line: ByteBufferView) {
        if let (from, number, sent) = Marker.parse(line) {
            let now = UInt64.monotonicNow
            if sent >= run.measureFrom.load(ordering: .relaxed) && sent < plan.stopAt {
                result.deliveries += 1
                _ = result.histogram.record(now > sent ? now - sent : 0)
            }
            if run.delivered(sender: from, seq: number) { senders.complete(from) }
            return
        }
        guard !isReady else {
            if plan.proto == .irc, line.starts(with: "PING ".utf8) {
                write("PONG " + String(decoding: line.dropFirst(5), as: UTF8.self))
            }
            return
        }
        let text = String(decoding: line, as: UTF8.self)
        switch plan.proto {
        case .chatd:
            if text.contains("You are now known as \(nick)") { markReady() }
        case .irc:
            if text.hasPrefix("PING ") { write("PONG " + text.dropFirst(5)) }
            if text.contains(" 001 ") {
                if plan.idle { markReady() } else { write("JOIN #bench\r\n") }
            }
            // The end of #bench's names (a server may have joined it to another room first).
            if text.contains(" 366 \(nick) #bench ") { markReady() }
        case .line:
            break
        }
    }

    private func markReady() {
        isReady = true
        ready.succeed()
    }

    private func write(_ text: String) {
        context?.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
    }

    /// Messages sent from `stopAt` on are not measured.
    func setStop(_ stopAt: UInt64) { plan.stopAt = stopAt }

    /// Sends one message (a sender only), unless the run has stopped.
    func sendNext() {
        guard let sender, !run.stopped.load(ordering: .relaxed), context != nil else { return }
        let now = UInt64.monotonicNow
        let text = Marker.make(sender: sender, seq: seq, now: now, size: plan.size)
        seq += 1
        if now >= run.measureFrom.load(ordering: .relaxed) && now < plan.stopAt { result.sent += 1 }
        switch plan.proto {
        case .irc: write("PRIVMSG #bench :\(text)\r\n")
        case .chatd, .line: write(text + "\r\n")
        }
    }

    /// Starts sending: a window's worth at once (each completion sends the next), or on a timer.
    func start(window: Int) {
        guard sender != nil, let context else { return }
        if let rate = plan.rate, let sender {
            // Senders are spread evenly over the interval, not synchronized into bursts.
            let interval = UInt64(1e9 / rate)
            let offset = interval * UInt64(sender) / UInt64(max(run.senders, 1))
            let first = UInt64.monotonicNow + offset
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(offset))) {
                self.sendOnSchedule(every: interval, next: first, context)
            }
        } else {
            for _ in 0..<window { sendNext() }
        }
    }

    /// Fixed rate: sends, then schedules the next send against the ideal timeline, so a late
    /// wake-up does not lower the rate.
    private func sendOnSchedule(every interval: UInt64, next: UInt64, _ context: ChannelHandlerContext) {
        guard !run.stopped.load(ordering: .relaxed) else { return }
        sendNext()
        let following = next + interval
        let now = UInt64.monotonicNow
        let delay = following > now ? Int64(following - now) : 0
        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay)) {
            self.sendOnSchedule(every: interval, next: following, context)
        }
    }
}

@available(*, unavailable)
extension BenchClient: Sendable {}
