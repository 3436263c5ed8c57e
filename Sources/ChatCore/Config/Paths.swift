/// Where chatd's files go when the config leaves them empty: decided from the environment
/// (passed in, so this stays pure and testable) the way systemd services expect.
public enum Paths {
    /// The admin socket: `$RUNTIME_DIRECTORY/admin.sock` under systemd (RuntimeDirectory=chatd),
    /// `/run/chatd/admin.sock` for root, else `$XDG_RUNTIME_DIR/chatd/admin.sock`, else
    /// `/tmp/chatd-UID/admin.sock`. chatctl resolves it the same way.
    public static func adminSocket(configured: String, environment: [String: String], uid: UInt32) -> String {
        if !configured.isEmpty { return configured }
        if let runtime = firstDirectory(environment["RUNTIME_DIRECTORY"]) { return runtime + "/admin.sock" }
        if uid == 0 { return "/run/chatd/admin.sock" }
        if let xdg = environment["XDG_RUNTIME_DIR"], xdg.hasPrefix("/") { return xdg + "/chatd/admin.sock" }
        return "/tmp/chatd-\(uid)/admin.sock"
    }

    /// The state directory: `$STATE_DIRECTORY` under systemd (StateDirectory=chatd),
    /// `/var/lib/chatd` for root, else `$XDG_STATE_HOME/chatd` or `~/.local/state/chatd`.
    public static func stateDirectory(configured: String, environment: [String: String], uid: UInt32) -> String {
        if !configured.isEmpty { return configured }
        if let state = firstDirectory(environment["STATE_DIRECTORY"]) { return state }
        if uid == 0 { return "/var/lib/chatd" }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/chatd" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.local/state/chatd" }
        return "/tmp/chatd-\(uid)/state"
    }

    /// systemd passes several directories colon-separated; the first is ours.
    private static func firstDirectory(_ value: String?) -> String? {
        guard let first = value?.split(separator: ":").first, first.hasPrefix("/") else { return nil }
        return String(first)
    }
}
