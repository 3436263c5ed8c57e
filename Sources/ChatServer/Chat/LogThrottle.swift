import Synchronization

/// Lets a repeated event be logged at most once per `interval` seconds per key, counting the
/// ones left out in between.
final class LogThrottle: Sendable {
    private let interval: Int64
    private let state = Mutex<[String: (last: Int64, suppressed: Int)]>([:])

    init(interval: Int) { self.interval = Int64(interval) * 1_000_000_000 }

    /// Nil when this occurrence should not be logged; else how many were left out since the last.
    func shouldLog(_ key: String) -> Int? {
        let now = Hub.monotonicNow
        return state.withLock { entries in
            if let entry = entries[key], now - entry.last < interval {
                entries[key]!.suppressed += 1
                return nil
            }
            let suppressed = entries[key]?.suppressed ?? 0
            entries[key] = (now, 0)
            return suppressed
        }
    }
}
