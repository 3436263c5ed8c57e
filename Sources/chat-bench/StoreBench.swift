import ArgumentParser
import ChatCore
import ChatStore
import Foundation
import Logging

/// `chat-bench --store PATH`: the history store's sustained write rate, without a server. Lines
/// of `size` bytes, spread over ten rooms, are appended in batches of `batch` (one transaction
/// each, as the writer commits a flush interval's worth) to a new SQLite file, for `duration`
/// seconds; then the rate and the size on disk are reported.
struct StoreBench {
    var path: String
    var batch: Int
    var size: Int
    var duration: Double
    var json: Bool

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(path) exists: --store writes a new file")
        }
        let store = try await SQLiteHistoryStore.open(path: path, logger: Logger(label: "chat-bench") { _ in SwiftLogNoOpLogHandler() })
        let text = String(repeating: "x", count: size)
        var id: UInt64 = 0
        var commits: [Double] = []
        let start = UInt64.monotonicNow
        let stop = start + UInt64(duration * 1e9)
        while UInt64.monotonicNow < stop {
            var records: [HistoryRecord] = []
            records.reserveCapacity(batch)
            for _ in 0..<batch {
                id += 1
                let room = "#room\(id % 10)"
                records.append(
                    HistoryRecord(
                        id: id, time: Timestamp(milliseconds: 1_764_756_000_000 + Int64(id)), room: room, roomKey: room,
                        from: "sender\(id % 100)",
                        text: text, isAction: false))
            }
            let before = UInt64.monotonicNow
            try await store.append(records)
            commits.append(Double(UInt64.monotonicNow - before) / 1e6)
        }
        let seconds = Double(UInt64.monotonicNow - start) / 1e9
        try await store.close()
        let bytes = ["", "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: path + $0)[.size] as? Int }.reduce(0, +)
        commits.sort()
        let p99 = commits.isEmpty ? 0 : commits[min(commits.count - 1, Int(Double(commits.count) * 0.99))]
        let rate = Double(id) / seconds
        if json {
            print(
                #"{"lines":\#(id),"seconds":\#(seconds),"linesPerSecond":\#(Int(rate)),"batch":\#(batch),"commitP99Ms":\#(p99),"bytes":\#(bytes),"bytesPerLine":\#(id > 0 ? bytes / Int(id) : 0)}"#
            )
        } else {
            print("store: \(id) lines of \(size) B in batches of \(batch), \(String(format: "%.1f", seconds)) s")
            print("  sustained write rate: \(Int(rate)) lines/s; commit p99 \(String(format: "%.1f", p99)) ms")
            print("  on disk: \(bytes) bytes, \(id > 0 ? bytes / Int(id) : 0) bytes a line")
        }
    }
}
