/// Durations as people read them, shared by the server's text lines and chatctl.
public enum Durations {
    /// A short human duration: `45s`, `12m05s`, `3h07m`, `2d04h`.
    public static func short(_ seconds: Int) -> String {
        let s = max(0, seconds)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86_400 { return "\(s / 3600)h\(two(s / 60 % 60))m" }
        return "\(s / 86_400)d\(two(s / 3600 % 24))h"
    }
}
