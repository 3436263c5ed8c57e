/// A token bucket: `rate` tokens a second, at most `burst` saved up. Time is passed in
/// (monotonic nanoseconds), so tests need no clock.
public struct TokenBucket: Equatable, Sendable {
    public var rate: Double
    public var burst: Double
    private var tokens: Double
    private var last: Int64

    /// A full bucket at `now`.
    public init(rate: Double, burst: Double, now: Int64) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now
    }

    private mutating func refill(_ now: Int64) {
        if now > last {
            tokens = min(burst, tokens + Double(now - last) / 1e9 * rate)
            last = now
        }
    }

    /// Takes one token if there is one.
    public mutating func take(now: Int64) -> Bool {
        refill(now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Nanoseconds until a token is available (0 if one is now).
    public mutating func wait(now: Int64) -> Int64 {
        refill(now)
        if tokens >= 1 { return 0 }
        return Int64(((1 - tokens) / rate * 1e9).rounded(.up))
    }

    /// Whether the bucket is full (an idle entry that can be forgotten).
    public mutating func isFull(now: Int64) -> Bool {
        refill(now)
        return tokens >= burst
    }
}
