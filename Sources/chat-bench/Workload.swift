import Atomics
import Foundation
import Histogram
import NIOCore

/// The chat protocol a benchmarked server speaks.
enum BenchProtocol: String, CaseIterable, Sendable {
    /// chatd's text mode: the first line is the nick; lines arrive as `<nick> text`.
    case chatd
    /// A plain line relay (SwiftNIO's NIOChatServer): no registration, lines relayed to the others.
    case line
    /// IRC: NICK/USER, JOIN #bench, PRIVMSG, PING answered.
    case irc
}

/// Shared by every client of a run: which messages are complete, and when the run is measured.
final class Run: Sendable {
    let senders: Int
    let window: Int
    /// Receivers each message must reach (all clients but its sender).
    let receivers: Int
    /// Deliveries counted per (sender, seq % window); a message completes at `receivers`.
    private let slots: [ManagedAtomic<Int>]
    /// Messages sent before this instant (monotonic ns) are warm-up: not measured.
    let measureFrom = ManagedAtomic<UInt64>(UInt64.max)
    let stopped = ManagedAtomic<Bool>(false)

    init(senders: Int, window: Int, receivers: Int) {
        self.senders = senders
        self.window = window
        self.receivers = receivers
        self.slots = (0..<(senders * window)).map { _ in ManagedAtomic(0) }
    }

    /// Counts a delivery; true when it completed the message (every receiver has it).
    func delivered(sender: Int, seq: Int) -> Bool {
        guard sender < senders else { return false }
        let slot = slots[sender * window + seq % window]
        if slot.wrappingIncrementThenLoad(ordering: .relaxed) == receivers {
            slot.store(0, ordering: .relaxed)
            return true
        }
        return false
    }
}

/// A benchmark message's text: `B:sender:seq:sentNanos:` padded with `x` to `size` bytes.
enum Marker {
    static func make(sender: Int, seq: Int, now: UInt64, size: Int) -> String {
        let head = "B:\(sender):\(seq):\(now):"
        return head.count >= size ? head : head + String(repeating: "x", count: size - head.count)
    }

    /// Finds a marker in a received line (after whatever prefix the server adds).
    static func parse(_ line: ByteBufferView) -> (sender: Int, seq: Int, sent: UInt64)? {
        guard let start = line.firstIndex(of: UInt8(ascii: "B")), line.index(after: start) < line.endIndex,
            line[line.index(after: start)] == UInt8(ascii: ":")
        else { return nil }
        var fields: [UInt64] = []
        var value: UInt64 = 0
        var digits = 0
        var index = line.index(start, offsetBy: 2)
        while index < line.endIndex, fields.count < 3 {
            let byte = line[index]
            if byte == UInt8(ascii: ":") {
                guard digits > 0 else { return nil }
                fields.append(value)
                value = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                digits += 1
            } else {
                return nil
            }
            index = line.index(after: index)
        }
        guard fields.count == 3 else { return nil }
        return (Int(fields[0]), Int(fields[1]), fields[2])
    }
}

/// What one client measured (merged over clients at the end).
struct ClientResult: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var deliveries = 0
    var sent = 0

    mutating func merge(_ other: ClientResult) {
        histogram.add(other.histogram)
        deliveries += other.deliveries
        sent += other.sent
    }
}

extension UInt64 {
    static var monotonicNow: UInt64 { NIODeadline.now().uptimeNanoseconds }
}
